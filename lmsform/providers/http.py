"""The HTTP layer every vendor provider shares.

One `HttpClient` per provider instance wraps an httpx client with what talking to a real LMS
needs: an authentication flow (`lmsform.providers.auth`), JSON, form or empty bodies,
timeouts, retries with exponential backoff and jitter (honouring Retry-After, within a total
budget), a pace (fixed, or learnt from the server's 429s: `lmsform.providers.pacing`) and a
bound on concurrent requests, paged listings (`lmsform.providers.paging`), a per-vendor
`Classifier` that says what a failure looks like and where the data sits in an answer, and
errors that name the call and the vendor's message with every credential redacted. It is
thread-safe: providers are called from apply's worker threads.

Whether a request may be sent twice is the caller's word, never guessed from the method: some
vendors read with POST, and not every PUT is idempotent. Writes are never blindly retried. When
the answer to an unsafe write is lost (a dropped connection or a 5xx after the server may have
acted), the caller's `landed` check reads the LMS to find out whether the first attempt took
effect before anything is sent again.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import httpx
from pydantic import BaseModel, ConfigDict, Field

from lmsform.providers import pacing
from lmsform.providers.answers import (
    Classifier,
    Envelope,
    HttpError,
    StatusInBody,
    redirected,
    retry_after,
)
from lmsform.providers.auth import Auth, Outgoing
from lmsform.providers.base import ProviderSettings
from lmsform.providers.pacing import AdaptivePace, RateLimiter
from lmsform.providers.paging import DEFAULT_PAGES, Pages, paginate
from lmsform.providers.urls import LOOPBACK_HOSTS, check_base_url, json_param, segment
from lmsform.secrets import Secrets

log = logging.getLogger(__name__)
T = TypeVar("T")

# What providers and tests import from here lives partly in `answers` and `urls`.
__all__ = ["LOOPBACK_HOSTS", "Classifier", "Counters", "Envelope", "HttpClient", "HttpError",
           "HttpOptions", "HttpProviderSettings", "StatusInBody", "Timeouts", "check_base_url",
           "json_param", "redirected", "retry_after", "segment"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# How much of a vendor's message an error shows, cut only once it is redacted.
MESSAGE_CHARACTERS = 500
# How many times one request may renew the credentials after a 401. More than one: a token
# renewed for this request can itself expire (or be revoked) before the request is sent
# again; each renewal is shared by every thread refused with the same token. A server that
# refuses every token is an error after this many, never a loop.
MAX_RENEWALS = 3
# Transport errors raised before a byte of the request left: sending again cannot duplicate.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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



class _RedactHttpxLogs(logging.Filter):
    """httpx logs every request's full URL (INFO on its own logger): redact the credentials of
    every open client from it, for applications that turn those logs on."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: weakref.WeakSet[HttpClient] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        text = original = record.getMessage()
        for client in list(self.clients):
            text = client.redact(text)
        if text != original:
            record.msg, record.args = text, ()
        return True


_HTTPX_LOGS = _RedactHttpxLogs()
logging.getLogger("httpx").addFilter(_HTTPX_LOGS)


@dataclass
class Counters:
    """What a client did, for tests and benchmarks."""

    requests: int = 0
    retries: int = 0


# What the resolver answers for a name that does not exist (as opposed to a resolver that
# is down for a moment, EAI_AGAIN, which is worth trying again)
UNKNOWN_NAME = frozenset(code for code in (socket.EAI_NONAME,
                                           getattr(socket, "EAI_NODATA", None)) if code)


def _unknown_host(exc: BaseException) -> str | None:
    """The resolver's words when a transport error comes of a host name that does not
    exist, found along the exception's causes; None otherwise."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror) and seen.errno in UNKNOWN_NAME:
            return seen.strerror or "unknown host"
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass
class _Attempt:
    """What became of one send: an answer, or a transport failure and whether it left."""

    response: httpx.Response | None
    failure: str | None  # None: a success
    unsent: bool = False  # the server cannot have acted (429, a refused connection)
    final: bool = False  # sending again cannot help (a host name that does not resolve)


class HttpClient:
    """One vendor's HTTP client, shared by all of a provider's threads."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        options: HttpOptions,
        *,
        classifier: Classifier | None = None,
        default_rate: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url, options.allow_insecure_http)
        self.auth = auth
        self.options = options
        self.classifier = classifier or Classifier()
        fixed = options.requests_per_second or default_rate  # the block's, or the vendor's
        self.limiter = RateLimiter(fixed) if fixed else AdaptivePace()
        self.slots = threading.BoundedSemaphore(options.max_concurrency)
        self.counters = Counters()
        self.secrets = Secrets(())  # the config's, once `Provider.use_secrets` gives them
        self._count_lock = threading.Lock()
        # the retries' waits and budget; the pace keeps `pacing`'s default clock
        self._sleep = sleep or pacing.default_sleep
        self._clock = clock or pacing.default_clock
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(options.timeout.read, connect=options.timeout.connect),
            headers={"Accept": "application/json"},
            transport=transport,
            limits=httpx.Limits(max_connections=options.max_concurrency),
        )
        auth.bind(self)
        _HTTPX_LOGS.clients.add(self)

    def close(self) -> None:
        self.client.close()

    def redact(self, text: str, request: Outgoing | None = None) -> str:
        """`text` as it may be shown (`lmsform.secrets` says how): every credential masked,
        the config's secrets (`secrets`, set by the engine) and the write-only values the
        `request` carried too, however a vendor echoes them."""
        present = () if request is None else (request.json, request.form, request.params)
        return self.secrets.redact(text, present, also=self.auth.secrets())

    def _count(self, retry: bool) -> None:
        with self._count_lock:
            self.counters.requests += 1
            if retry:
                self.counters.retries += 1

    def _send(self, out: Outgoing) -> httpx.Response:
        """One request on the wire, within the rate limit and the concurrency bound. Logs
        method, path, status and time: never headers, query strings or bodies."""
        self.limiter.wait()
        # redacted only when it is logged: a 100k-user apply sends 300k requests
        where = self.redact(out.path) if log.isEnabledFor(logging.INFO) else out.path
        with self.slots:
            start = time.monotonic()
            try:
                response = self.client.request(
                    out.method, out.path, headers=out.headers, params=out.params or None,
                    json=out.json, data=out.form)
            except httpx.TransportError as exc:
                log.info("%s %s: %s after %.2fs", out.method, where, type(exc).__name__,
                         time.monotonic() - start)
                raise
        log.info("%s %s: %d in %.2fs", out.method, where, response.status_code,
                 time.monotonic() - start)
        return response

    def _attempt(self, call: Outgoing, authenticate: bool) -> tuple[Outgoing, _Attempt]:
        """Sign a fresh copy of the call and send it once."""
        out = Outgoing(call.method, call.path, dict(call.headers), dict(call.params),
                       call.json, None if call.form is None else dict(call.form))
        if authenticate:
            self.auth.sign(out)  # before taking a slot: a token fetch needs one
        try:
            response = self._send(out)
        except httpx.TransportError as exc:
            unknown = _unknown_host(exc)
            if unknown is not None:
                host = self.client.base_url.host
                return out, _Attempt(None, f"the host {host} does not resolve ({unknown}); "
                                     "check the provider's base_url", unsent=True, final=True)
            failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return out, _Attempt(None, failure, unsent=isinstance(exc, NOT_SENT))
        status = response.status_code
        if status == 429 or (status == 503 and "Retry-After" in response.headers):
            self.limiter.throttled()  # the server says: slower
        elif status < 300:
            self.limiter.succeeded()  # errors and redirects say nothing about the pace
        verdict = redirected(response) or self.classifier.error(response)
        return out, _Attempt(response, verdict, unsent=response.status_code == 429)

    @overload
    def request(self, method: str, path: str, *, safe: bool,
                params: Mapping[str, Any] | None = ..., json: Any = ...,
                form: Mapping[str, Any] | None = ..., headers: Mapping[str, str] | None = ...,
                landed: None = ...,
                already_done: Callable[[httpx.Response], bool] | None = ...,
                authenticate: bool = ..., exists: None = ...) -> httpx.Response: ...

    @overload
    def request(self, method: str, path: str, *, safe: bool,
                params: Mapping[str, Any] | None = ..., json: Any = ...,
                form: Mapping[str, Any] | None = ..., headers: Mapping[str, str] | None = ...,
                landed: Callable[[], T | None],
                already_done: Callable[[httpx.Response], bool] | None = ...,
                authenticate: bool = ...,
                exists: Callable[[], T | None] | None = ...) -> httpx.Response | T: ...

    @overload
    def request(self, method: str, path: str, *, safe: bool,
                params: Mapping[str, Any] | None = ..., json: Any = ...,
                form: Mapping[str, Any] | None = ..., headers: Mapping[str, str] | None = ...,
                landed: Callable[[], T | None] | None = ...,
                already_done: Callable[[httpx.Response], bool] | None = ...,
                authenticate: bool = ...,
                exists: Callable[[], T | None]) -> httpx.Response | T: ...

    def request(
        self,
        method: str,
        path: str,
        *,
        safe: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        landed: Callable[[], T | None] | None = None,
        already_done: Callable[[httpx.Response], bool] | None = None,
        authenticate: bool = True,
        exists: Callable[[], T | None] | None = None,
    ) -> httpx.Response | T:
        """Send a request, retrying what is safe to retry; raise HttpError on failure.

        `safe=True`: sending again cannot change anything. An unsafe request is sent again
        after a 429 or a refused connection; after a lost answer only once `landed()` finds
        that the first attempt did not land (what it finds instead is returned).
        `already_done(response)` accepts an error, after a lost answer, that means the first
        attempt worked; `exists()` finds what a create answered 'already exists' (taken, by
        the classifier) makes, to adopt it. A 401 asks the auth to refresh. See docs/http.md.
        """
        if json is not None and form is not None:
            raise ValueError("a request has a JSON body or a form body, not both")
        call = Outgoing(method, path, dict(headers or {}), dict(params or {}), json,
                        None if form is None else dict(form))
        deadline = self._clock() + self.options.retry_budget_seconds
        attempt, renewals, lost = 0, 0, False
        while True:
            attempt += 1
            self._count(attempt > 1)
            out, result = self._attempt(call, authenticate)
            response, failure = result.response, result.failure
            if failure is None and response is not None:
                return response
            assert failure is not None
            if result.final:
                raise self._error(method, path, None, failure, request=call)
            if response is not None:
                if lost and already_done is not None and already_done(response):
                    return self._landed(out, response)
                if exists is not None and self.classifier.taken(response):
                    return self._adopted(out, response, failure, exists)
                if (response.status_code == 401 and authenticate
                        and renewals < MAX_RENEWALS and self.auth.refresh(out)):
                    renewals += 1
                    continue
                if response.status_code not in RETRY_STATUSES:
                    raise self._failed(out, response, failure, renewals > 0)
            if not safe and not result.unsent:
                if landed is None:
                    raise self._error(method, path, _status(response), failure, request=call)
                found = landed()
                if found is not None:
                    return self._landed(out, found)
            lost = lost or not result.unsent
            wait = self._backoff(attempt, response)
            if attempt > self.options.max_retries or self._clock() + wait > deadline:
                raise self._error(method, path, _status(response),
                                  f"{failure} (gave up after {attempt} attempts)", request=call)
            log.info("%s %s: retrying in %.2fs (%s)", method, self.redact(path), wait,
                     self.redact(failure, call))
            self._sleep(wait)

    def call(
        self,
        method: str,
        path: str,
        *,
        safe: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        landed: Callable[[], Any] | None = None,
        already_done: Callable[[httpx.Response], bool] | None = None,
        exists: Callable[[], Any] | None = None,
    ) -> Any:
        """`request`, returning the answer's payload as the classifier unwraps it (or what
        `landed` or `exists` found), so that a provider never handles the vendor's
        envelope."""
        send = {"safe": safe, "params": params, "json": json, "form": form, "headers": headers,
                "already_done": already_done}
        if landed is None and exists is None:
            return self.payload(self.request(method, path, **send))
        answer = self.request(method, path, landed=landed, exists=exists, **send)
        return self.payload(answer) if isinstance(answer, httpx.Response) else answer

    def payload(self, response: httpx.Response, *, unwrap: bool = True) -> Any:
        """An answer's data (`unwrap=False`: its whole JSON body); HttpError when the body is
        not JSON."""
        try:
            if unwrap:
                return self.classifier.payload(response)
            return response.json() if response.content.strip() else None
        except ValueError:
            try:
                method, path = response.request.method, response.request.url.path
            except RuntimeError:  # a response built by hand, never sent
                method, path = "?", "?"
            text = response.text.strip() or "an empty body"
            raise self._error(method, path, None, f"expected JSON, got: {text}") from None

    def paginate(
        self,
        path: str,
        *,
        pages: Pages = DEFAULT_PAGES,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Every item of a paged listing, as `pages` describes the vendor's paging (see
        `lmsform.providers.paging`). Every page request is sent as safe: listing only reads,
        even with POST."""
        return paginate(self, path, pages, method=method, params=params, json=json, form=form)

    def _landed(self, out: Outgoing, result: T) -> T:
        log.info("%s %s: the first attempt had landed", out.method, self.redact(out.path))
        return result

    def _adopted(self, out: Outgoing, response: httpx.Response, failure: str,
                 exists: Callable[[], T | None]) -> T:
        """A create answered 'already exists': adopt what a read finds by its natural key;
        without it, the answer's error stands."""
        found = exists()
        if found is None:
            raise self._failed(out, response, failure, False)
        log.warning("%s %s: already there, adopted once a read confirmed it (%s); the next "
                    "plan shows what it holds otherwise than the manifests, and its "
                    "write-only fields (a password) were not sent", out.method,
                    self.redact(out.path), self.redact(failure, out))
        return found

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        """Exponential backoff with full jitter; Retry-After when the server gives one."""
        if response is not None:
            asked = retry_after(response)
            if asked is not None:
                return asked
        return random.uniform(0, min(8.0, 0.25 * 2 ** (attempt - 1)))

    def _failed(self, out: Outgoing, response: httpx.Response, failure: str,
                renewed: bool) -> HttpError:
        """The error for an answer that is not worth sending again."""
        if response.status_code == 401 and renewed:
            failure = f"{failure} (refused again after renewing the credentials)"
        return self._error(out.method, out.path, response.status_code, failure,
                           in_body=response.status_code < 300, request=out)

    def _error(self, method: str, path: str, status: int | None, message: str, *,
               in_body: bool = False, request: Outgoing | None = None) -> HttpError:
        """The error for a failed call: its path and the vendor's message redacted, the
        values the request carried included (a vendor may echo its body)."""
        shown = self.redact(message, request)  # whole: a secret cut in two would show
        if len(shown) > MESSAGE_CHARACTERS:
            shown = shown[:MESSAGE_CHARACTERS] + " [...]"
        return HttpError(method, self.redact(path, request), status, shown, in_body=in_body)


def _status(response: httpx.Response | None) -> int | None:
    return None if response is None else response.status_code
