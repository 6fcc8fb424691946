"""What the auth flows and the pager need of an HTTP client, as a protocol.

An OAuth2 flow fetches its token through the client that sends every other call, and the
pager asks that client for each page: both depend on this much of it, and not on
`lmsform.providers.http.HttpClient`, the one implementation, which imports them in turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx


class Bounded(Protocol):
    """A client's options, as far as the pager reads them."""

    @property
    def max_concurrency(self) -> int:
        """Requests in flight at once; also the width of concurrent page fetches."""


class Client(Protocol):
    """Sending one request (with the client's retries, pace and errors) and reading an
    answer's data."""

    @property
    def options(self) -> Bounded: ...

    def request(self, method: str, path: str, *, safe: bool,
                params: Mapping[str, Any] | None = ..., json: Any = ...,
                form: Mapping[str, Any] | None = ..., headers: Mapping[str, str] | None = ...,
                authenticate: bool = ...) -> httpx.Response: ...

    def payload(self, response: httpx.Response, *, unwrap: bool = ...) -> Any: ...

    def redact(self, text: str) -> str: ...
