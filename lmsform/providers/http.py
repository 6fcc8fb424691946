"""The HTTP layer every vendor provider shares.

One `HttpClient` per provider instance wraps an httpx client with what talking to a real LMS
needs: authentication hooks, timeouts, retries with exponential backoff and jitter (honouring
Retry-After, within a total budget), a client-side rate limit and a bound on concurrent
requests, pagination helpers, and errors that name the call and the vendor's message with every
credential redacted. It is thread-safe: providers are called from apply's worker threads.

Writes are never blindly retried. When the answer to a write is lost (a dropped connection or a
5xx after the server may have acted), the caller's `landed` check reads the LMS to find out
whether the first attempt took effect before anything is sent again.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.base import ProviderSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connect: float = Field(5.0, gt=0)
    read: float = Field(30.0, gt=0)


class HttpOptions(BaseModel):
    """Connection settings every HTTP provider accepts in its `provider:` block."""

    model_config = ConfigDict(extra="forbid")
    base_url: str | None = None
    allow_insecure_http: bool = False
    timeout: Timeouts = Field(default_factory=Timeouts)
    requests_per_second: float | None = Field(None, gt=0)
    max_concurrency: int = Field(8, ge=1, le=64)
    max_retries: int = Field(5, ge=0, le=20)
    retry_budget_seconds: float = Field(60.0, ge=0)


class HttpProviderSettings(ProviderSettings, HttpOptions):
    """A `provider:` block for a vendor reached over HTTP: the vendor's options plus these."""


class Auth(Protocol):
    """How a vendor authenticates; OAuth2 implementations refresh their token on a 401."""

    def headers(self) -> dict[str, str]: ...

    def refresh(self) -> bool:
        """Renew credentials after a 401; True when a retry may now succeed."""
        ...

    def secrets(self) -> list[str]:
        """Values to redact from every message and log line."""
        ...


@dataclass
class StaticHeaders:
    """Credentials sent as fixed headers (iLMS, BrainCert...)."""

    values: dict[str, str]
    secret_names: frozenset[str] = frozenset()

    def headers(self) -> dict[str, str]:
        return dict(self.values)

    def refresh(self) -> bool:
        return False

    def secrets(self) -> list[str]:
        return [self.values[n] for n in self.secret_names if self.values.get(n)]


class RateLimiter:
    """At most `rate` requests a second across threads (a token bucket of one second)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
        if slot > now:
            time.sleep(slot - now)


class HttpError(ProviderError):
    """A failed call: method, path, status and the vendor's own message."""

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}", message if status is None
                         else f"HTTP {status}: {message}", status=status)


def check_base_url(url: str, allow_insecure_http: bool) -> str:
    """HTTPS only, except a simulator on this machine, unless explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise LmsformError(f"base_url '{url}' is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS \
            and not allow_insecure_http:
        raise LmsformError(
            f"base_url '{url}' is plain HTTP: credentials would travel unencrypted. Use "
            "https://, or set allow_insecure_http: true if you really mean it"
        )
    return url.rstrip("/")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429/503 asks us to wait: delta-seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


@dataclass
class Counters:
    """What a client did, for tests and benchmarks."""

    requests: int = 0
    retries: int = 0


class HttpClient:
    """One vendor's HTTP client, shared by all of a provider's threads."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        options: HttpOptions,
        *,
        default_rate: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = check_base_url(base_url, options.allow_insecure_http)
        self.auth = auth
        self.options = options
        self.limiter = RateLimiter(options.requests_per_second or default_rate)
        self.slots = threading.BoundedSemaphore(options.max_concurrency)
        self.counters = Counters()
        self._count_lock = threading.Lock()
        self._sleep = sleep
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(options.timeout.read, connect=options.timeout.connect),
            headers={"Accept": "application/json"},
            transport=transport,
            limits=httpx.Limits(max_connections=options.max_concurrency),
        )

    def close(self) -> None:
        self.client.close()

    def redact(self, text: str) -> str:
        for secret in self.auth.secrets():
            text = text.replace(secret, "***")
        return text

    def _count(self, retry: bool) -> None:
        with self._count_lock:
            self.counters.requests += 1
            if retry:
                self.counters.retries += 1

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.limiter.wait()
        with self.slots:
            start = time.monotonic()
            try:
                response = self.client.request(method, path, headers=self.auth.headers(),
                                               **kwargs)
            except httpx.TransportError as exc:
                log.info("%s %s: %s after %.2fs", method, path, type(exc).__name__,
                         time.monotonic() - start)
                raise
        log.info("%s %s: %d in %.2fs", method, path, response.status_code,
                 time.monotonic() - start)
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        landed: Callable[[], T | None] | None = None,
        already_done: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response | T:
        """Send a request, retrying what is safe to retry, and raise HttpError on failure.

        GET, PUT and DELETE are retried as they are idempotent; so is anything refused with a
        429, which the server did not act on. Otherwise a POST is retried only when `landed` is
        given: after a lost answer it is called first, and a non-None result (say, the id of
        the user the first attempt created) is returned instead of sending again.
        `already_done(response)` recognises an error answer to a retried write that means the
        first attempt worked ('already a member', a 404 on delete); it should confirm with a
        read before saying yes.
        """
        idempotent = method in {"GET", "PUT", "DELETE", "HEAD"}
        deadline = time.monotonic() + self.options.retry_budget_seconds
        attempt = 0
        while True:
            attempt += 1
            retrying = attempt > 1
            self._count(retrying)
            try:
                response = self._send(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                response = None
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 400:
                    return response
                if retrying and already_done is not None and already_done(response):
                    return response
                if response.status_code == 401 and attempt == 1 and self.auth.refresh():
                    continue
                failure = self._message(response)
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(method, path, response.status_code, failure)
            # A retryable failure: connection trouble, 429 or 5xx.
            refused = response is not None and response.status_code == 429  # never acted on
            if not idempotent and not refused:
                if landed is None:
                    raise self._error(method, path, _status(response), failure)
                result = landed()
                if result is not None:
                    log.info("%s %s: the first attempt had landed", method, path)
                    return result
            wait = self._backoff(attempt, response)
            if attempt > self.options.max_retries or time.monotonic() + wait > deadline:
                raise self._error(method, path, _status(response),
                                  f"{failure} (gave up after {attempt} attempts)")
            log.info("%s %s: retrying in %.2fs (%s)", method, path, wait, failure)
            self._sleep(wait)

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        """Exponential backoff with full jitter; Retry-After when the server gives one."""
        if response is not None:
            asked = retry_after(response)
            if asked is not None:
                return asked
        return random.uniform(0, min(8.0, 0.25 * 2 ** (attempt - 1)))

    def _message(self, response: httpx.Response) -> str:
        """The vendor's own words: a JSON message/reason field, or the body's text."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()
            return text[:500] if text else response.reason_phrase
        if isinstance(body, dict):
            for key in ("Message", "message", "error", "Error", "reason", "detail"):
                value = body.get(key)
                if value:
                    return value if isinstance(value, str) else str(value)
        return str(body)[:500]

    def _error(self, method: str, path: str, status: int | None, message: str) -> HttpError:
        return HttpError(method, path, status, self.redact(message))

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        per_page: int = 100,
        page_param: str = "page",
        size_param: str = "per_page",
        items: Callable[[Any], list[Any]] = lambda body: body,
    ) -> Iterator[Any]:
        """Every item of a paged listing (page/per_page style, or any names for them).

        When the first page gives X-Total-Count, the other pages are fetched concurrently
        (within max_concurrency). Otherwise pages are read one after another until one is
        short, or until the server sends no `next` link where it sends links at all: vendors
        differ in which of these they give.
        """

        def fetch(page: int) -> httpx.Response:
            query = {**(params or {}), page_param: page, size_param: per_page}
            response = self.request("GET", path, params=query)
            assert isinstance(response, httpx.Response)
            return response

        first = fetch(1)
        batch = items(first.json())
        yield from batch
        total = first.headers.get("X-Total-Count", "")
        if batch and total.isdigit():
            # The server may cap the page size: count pages by what the first page held.
            pages = range(2, -(-int(total) // len(batch)) + 1)
            if len(pages) > 0:
                workers = min(len(pages), self.options.max_concurrency)
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for response in pool.map(fetch, pages):
                        yield from items(response.json())
            return
        page, response = 1, first
        while batch:
            links = "next" in response.headers or bool(response.links)
            has_next = "next" in response.headers or "next" in response.links
            if (links and not has_next) or (not links and len(batch) < per_page):
                return
            page += 1
            response = fetch(page)
            batch = items(response.json())
            yield from batch


def _status(response: httpx.Response | None) -> int | None:
    return None if response is None else response.status_code
