"""Reading an LMS's HTTP answer: whether it failed and in whose words (a vendor's `Classifier`,
with two common shapes, `Envelope` and `StatusInBody`), why a redirect is a failure, how long
a 429 asks to wait, and the `HttpError` a failed call raises. The client applies them; a
provider only picks or extends a classifier."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from lmsform.errors import ProviderError


class HttpError(ProviderError):
    """A failed call: method, path, status and the vendor's own message.

    `in_body` marks a failure the vendor reported inside a successful answer (an error field
    in a 200): the message is the vendor's, without an "HTTP 200" that would mislead.
    """

    def __init__(self, method: str, path: str, status: int | None, message: str, *,
                 in_body: bool = False) -> None:
        self.method = method
        self.path = path
        self.in_body = in_body
        text = message if status is None or in_body else f"HTTP {status}: {message}"
        super().__init__(f"{method} {path}", text, status=status)


class Classifier:
    """What a failed answer looks like for one vendor, and where the data of a good one is.

    The default suits plain JSON APIs: a status of 400 or more is a failure, the message is a
    JSON message/error/reason/detail field or else the body's text, and the payload is the JSON
    body. Override `error` for vendors that report failures inside a 200, and `payload` for
    vendors that wrap their data in an envelope. A vendor that refuses a duplicate create
    with a plain 400 or 422 names it in `taken_statuses` and `taken_words`.
    """

    taken_statuses: ClassVar[tuple[int, ...]] = ()
    taken_words: ClassVar[tuple[str, ...]] = ()

    def error(self, response: httpx.Response) -> str | None:
        """The vendor's message when `response` reports a failure; None when it succeeded."""
        return self.message(response) if response.status_code >= 400 else None

    def message(self, response: httpx.Response) -> str:
        """The vendor's own words: a JSON message/reason field, or the body's text."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()
            return text or response.reason_phrase
        if isinstance(body, dict):
            for key in ("Message", "message", "error", "Error", "reason", "detail"):
                value = body.get(key)
                if value:
                    return value if isinstance(value, str) else str(value)
        return str(body)

    def payload(self, response: httpx.Response) -> Any:
        """The data of a successful answer; None for an empty body. ValueError: not JSON."""
        return response.json() if response.content.strip() else None

    def taken(self, response: httpx.Response) -> bool:
        """Whether a failed answer to a create says that what it makes exists already (its
        email, code or name is taken): a 409, or one of `taken_statuses` with one of
        `taken_words` in the vendor's message (case ignored)."""
        if response.status_code == 409:
            return True
        if response.status_code not in self.taken_statuses:
            return False
        message = self.message(response).lower()
        return any(word.lower() in message for word in self.taken_words)


@dataclass
class Envelope(Classifier):
    """Answers wrapped as {"message": ..., "data": ...}, failures as
    {"message": ..., "error": {"code": ..., "details": ...}} (BrainCert). An answer without
    the data key is its own payload (say, {"message": ..., "id": 12345} after a create)."""

    data_key: str = "data"

    def message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(error, dict):
            details = error.get("details") or error.get("message")
            words = [str(w) for w in (body.get("message"), details) if w]
            if words:
                return ": ".join(words)
        return super().message(response)

    def payload(self, response: httpx.Response) -> Any:
        body = super().payload(response)
        if isinstance(body, dict) and self.data_key in body:
            return body[self.data_key]
        return body


@dataclass
class StatusInBody(Classifier):
    """Failures reported inside a 200 by a status field (Course Toolkit: `response` is 0 on
    success, anything else a failure explained by `response_description`)."""

    field: str = "response"
    ok: tuple[Any, ...] = (0,)
    message_field: str = "response_description"

    def error(self, response: httpx.Response) -> str | None:
        if response.status_code >= 400:
            return self.message(response)
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or self.field not in body:
            return None
        status = body[self.field]
        if str(status) in {str(ok) for ok in self.ok}:
            return None
        return str(body.get(self.message_field) or f"{self.field} {status}")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429/503 asks us to wait: delta-seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def redirected(response: httpx.Response) -> str | None:
    """Why a 3xx answer is a failure, naming where it pointed (scheme, host and path only: a
    query or user part may hold a token); None for any other answer.

    lmsform never follows redirects: a gateway, a proxy or a single sign-on page answering in
    the LMS's place would otherwise read as an empty LMS, or swallow a write.
    """
    if not 300 <= response.status_code < 400:
        return None
    location = response.headers.get("Location", "").strip()
    try:
        parts = urlsplit(location)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # a port out of range, a bracket left open: the server's text
        return ("redirected to a Location that is no URL; lmsform does not follow redirects "
                "(is base_url the LMS's API, and not a login page or a proxy in front of it?)")
    where = (f"{parts.scheme}://{host}{parts.path}" if parts.scheme and host
             else parts.path or "nowhere (no Location header)")
    return (f"redirected to {where}; lmsform does not follow redirects (is base_url the "
            "LMS's API, and not a login page or a proxy in front of it?)")
