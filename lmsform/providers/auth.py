"""How a vendor's credentials travel, as a flow the HTTP client drives.

Vendors authenticate in different ways: fixed headers (iLMS, BrainCert), a bearer token (AOM
LMS), credentials as form fields in every body (Course Toolkit), or an OAuth2 token fetched
with a client id and secret (LearnWorlds). The HTTP client asks the provider's `Auth` to
`sign` every outgoing request, to `refresh` once when the server answers 401, and for the
`secrets` it must redact from every message and log line.

The idea is httpx's `Auth.auth_flow`, written here because a token request has to go through
the same client as any other call: its retries, its rate limit, its HTTPS check and its
redaction. An OAuth2 flow is therefore bound to its client (`HttpClient`, seen through the
`lmsform.providers.client.Client` protocol) and fetches its token with it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsform.errors import LmsformError
from lmsform.providers import pacing
from lmsform.providers.client import Client

log = logging.getLogger(__name__)

# A cached OAuth2 token is renewed this many seconds before its `expires_in` runs out, so that
# a request signed just before the end does not arrive after it. A token that lives less than
# twice this long is renewed at half its lifetime instead.
TOKEN_RENEWAL_MARGIN_SECONDS = 60.0


@dataclass
class Outgoing:
    """One attempt of a request, as `Auth.sign` may change it before it is sent."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    form: dict[str, Any] | None = None
    credential: object = None  # which credential signed it, for `refresh(rejected)`


class Auth:
    """No credentials at all; every flow below extends this."""

    def bind(self, client: Client) -> None:
        """Called once by the client that will send the requests (flows that fetch tokens)."""

    def sign(self, request: Outgoing) -> None:
        """Add credentials to an outgoing request: headers, form fields or query parameters."""

    def refresh(self, rejected: Outgoing) -> bool:
        """The server answered 401 to `rejected`: renew what can be renewed. True when sending
        the request again, signed anew, may now succeed."""
        return False

    def secrets(self) -> list[str]:
        """Values to redact from every message, log line and exception."""
        return []


@dataclass
class StaticHeaders(Auth):
    """Credentials sent as fixed headers on every request (iLMS; BrainCert's
    `Authorization: <key>` and `x-domain-id`)."""

    values: dict[str, str]
    secret_names: frozenset[str] = frozenset()

    def sign(self, request: Outgoing) -> None:
        request.headers.update(self.values)

    def secrets(self) -> list[str]:
        return [self.values[n] for n in self.secret_names if self.values.get(n)]


@dataclass
class BearerToken(Auth):
    """A long-lived token sent as `Authorization: Bearer <token>` (AOM LMS)."""

    token: str
    headers: dict[str, str] = field(default_factory=dict)  # other fixed headers

    def sign(self, request: Outgoing) -> None:
        request.headers.update(self.headers)
        request.headers["Authorization"] = f"Bearer {self.token}"

    def secrets(self) -> list[str]:
        return [self.token] if self.token else []


@dataclass
class FormFields(Auth):
    """Credentials as form fields in every request's body, next to the call's own fields
    (Course Toolkit's api-user and api-key). A request without a body gets a form body."""

    fields: dict[str, str]
    secret_names: frozenset[str] = frozenset()

    def sign(self, request: Outgoing) -> None:
        if request.json is not None:
            raise LmsformError(f"{request.method} {request.path}: this vendor takes its "
                               "credentials as form fields; send the call's data as form=")
        request.form = {**(request.form or {}), **self.fields}

    def secrets(self) -> list[str]:
        return [self.fields[n] for n in self.secret_names if self.fields.get(n)]


@dataclass
class QueryParams(Auth):
    """Credentials as query parameters. Prefer anything else where the vendor allows it:
    URLs end up in proxies' logs. lmsform never logs query strings."""

    values: dict[str, str]
    secret_names: frozenset[str] = frozenset()

    def sign(self, request: Outgoing) -> None:
        request.params = {**request.params, **self.values}

    def secrets(self) -> list[str]:
        return [self.values[n] for n in self.secret_names if self.values.get(n)]


class OAuth2ClientCredentials(Auth):
    """OAuth2 client credentials (LearnWorlds): a bearer token fetched from the token endpoint
    with a form-encoded grant_type=client_credentials, client_id and client_secret.

    The token is fetched once and shared by every thread, renewed shortly before `expires_in`
    runs out, and renewed on a 401: every thread that got the 401 for the same token shares
    that one renewal, and a thread whose rejected token is older than the current one
    simply sends again with the current one. The client secret and every token are secrets.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_path: str = "/oauth2/access_token",
        headers: Mapping[str, str] | None = None,
        scope: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_path = token_path
        self.headers = dict(headers or {})  # sent with every call and the token request
        self.scope = scope
        self._clock = clock or pacing.default_clock
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._generation = 0
        self._secrets: tuple[str, ...] = (client_secret,) if client_secret else ()

    def bind(self, client: Client) -> None:
        self._client = client

    def sign(self, request: Outgoing) -> None:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            token, generation = self._token, self._generation
        request.headers.update(self.headers)
        request.headers["Authorization"] = f"Bearer {token}"
        request.credential = generation

    def refresh(self, rejected: Outgoing) -> bool:
        with self._lock:
            if rejected.credential == self._generation:
                self._fetch()  # the first thread here for this token renews it
        return True  # ...and any other sends again with the current one

    def secrets(self) -> list[str]:
        return list(self._secrets)  # read without the lock: redaction happens inside fetches

    def token_form(self) -> dict[str, str]:
        """The token request's form fields; override for a vendor that wants more."""
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret}
        if self.scope:
            form["scope"] = self.scope
        return form

    def read_token(self, body: Any) -> tuple[str, float | None]:
        """The token and its lifetime in seconds from the token endpoint's answer; override
        for a vendor that nests them."""
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise LmsformError(f"POST {self.token_path}: the answer has no access_token")
        expires = body.get("expires_in")
        try:
            lifetime = None if expires is None else float(expires)
        except (TypeError, ValueError):
            lifetime = None
        return body["access_token"], lifetime

    def _fetch(self) -> None:
        """Get a new token; called with the lock held, so exactly one thread fetches."""
        if self._client is None:
            raise LmsformError("OAuth2ClientCredentials is not bound to an HttpClient")
        response = self._client.request("POST", self.token_path, safe=True,
                                        form=self.token_form(), headers=self.headers,
                                        authenticate=False)
        token, lifetime = self.read_token(self._client.payload(response))
        self._secrets = (*self._secrets, token)
        now = self._clock()
        if lifetime is None:
            self._renew_at = math.inf  # until the server refuses it
        else:
            self._renew_at = now + max(lifetime - TOKEN_RENEWAL_MARGIN_SECONDS, lifetime / 2)
        self._token = token
        self._generation += 1
        log.info("POST %s: new access token", self.token_path)
