"""A small threaded HTTP server for vendor simulators, with fault injection and counters.

Simulators serve real sockets on 127.0.0.1 so that providers are tested through their real
HTTP code. Faults are deterministic (every Nth request) so that tests are repeatable, and
`before_request` lets a test act as another client between two requests (say, creating users
between the pages of a listing).

Each simulator module offers a click command built by `simulator_command` and registers it in
the `lmsform.simulators` entry-point group; `lmsform simulate VENDOR` finds it there, so the
CLI knows no vendor by name.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click


@dataclass
class Faults:
    """What can go wrong, on purpose."""

    latency_ms: float = 0
    fail_every: int = 0  # every Nth request answers 500 (writes: half after acting)
    drop_every: int = 0  # every Nth request drops the connection (writes: after acting)
    rate_limit: float = 0  # requests per second; above it, 429 with Retry-After


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class HttpProblem(Exception):
    """Raised by a route to answer with an error status and the vendor's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[..., Response]


class Simulator:
    """Routes, faults and counters; subclasses add the vendor's routes and data."""

    name = "simulator"
    title = "Simulator"  # the vendor's name as people write it
    # Vendors that take form-encoded bodies (an OAuth2 token endpoint, Course Toolkit) set
    # this: such a body then arrives as a dict of text (the last value of a repeated field).
    accepts_form_bodies = False
    # How often the serving thread looks whether stop() was asked for: stop() waits up to this
    # long. The tests, which stop a simulator after every test, set it lower.
    poll_interval = 0.05

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.lock = threading.RLock()  # one request changes the data at a time
        self.counts: Counter[str] = Counter()
        self._sequence = 0
        self._recent: deque[float] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # A test hook: called with every request before it is answered, outside the lock, so
        # that a test can play another client writing between the pages of a listing (it may
        # call the simulator over HTTP; those requests come through here too).
        self.before_request: Callable[[Request], None] | None = None
        # What the rate limits (and a vendor's token lifetimes) read the time from. A test puts
        # in the virtual clock lmsform's HTTP layer reads too (lmsform.providers.pacing), so
        # that waiting out a limit costs no real time; latency stays real (it makes requests
        # overlap).
        self.clock: Callable[[], float] = time.monotonic

    def route(self, method: str, pattern: str, name: str, handler: Handler) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$",
                           re.IGNORECASE)
        self.routes.append((method, regex, name, handler))

    # hooks for subclasses

    def authenticate(self, request: Request) -> None:
        """Raise HttpProblem(401) when the credentials are wrong."""

    def error_body(self, status: int, message: str) -> Any:
        return {"Message": message}

    def announcement(self, url: str) -> str:
        """The first line `lmsform simulate` prints."""
        return f"{self.title} simulator listening on {url}"

    # serving

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a background thread; returns the base URL."""
        simulator = self

        class _Handler(_RequestHandler):
            sim = simulator

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        server = self._server
        poll = self.poll_interval
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=poll),
                                        daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait(self) -> None:
        """Block until Ctrl-C, then stop serving."""
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": sum(self.counts.values()), "by_route": dict(self.counts)}

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()

    # one request

    def _fault(self) -> tuple[str | None, float | None]:
        """Which fault, if any, this request gets: 'fail-before', 'fail-after', 'drop', '429'."""
        with self.lock:
            self._sequence += 1
            n = self._sequence
            now = self.clock()
            if self.faults.rate_limit:
                while self._recent and now - self._recent[0] > 1.0:
                    self._recent.popleft()
                if len(self._recent) >= self.faults.rate_limit:
                    return "429", 1.0 - (now - self._recent[0])
                self._recent.append(now)
        if self.faults.drop_every and n % self.faults.drop_every == 0:
            return "drop", None
        if self.faults.fail_every and n % self.faults.fail_every == 0:
            return ("fail-after" if (n // self.faults.fail_every) % 2 == 0
                    else "fail-before"), None
        return None, None

    def handle(self, request: Request) -> Response | None:
        """The response to send, or None to drop the connection."""
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if request.path.startswith("/_simulator/"):
            return Response(200, self.stats())
        if self.before_request is not None:
            self.before_request(request)
        fault, wait = self._fault()
        if fault == "429":
            retry = max(1, round(wait or 1))
            return Response(429, self.error_body(429, "Too many requests"),
                            {"Retry-After": str(retry)})
        if fault == "fail-before":
            return Response(500, self.error_body(500, "Internal server error (simulated)"))
        response = self._dispatch(request)  # the server acts; then the answer may be lost
        if fault == "drop":
            return None
        if fault == "fail-after":
            return Response(500, self.error_body(500, "Internal server error (simulated)"))
        return response

    def _dispatch(self, request: Request) -> Response:
        try:
            self.authenticate(request)
            for method, regex, name, handler in self.routes:
                match = regex.match(request.path)
                if match and method == request.method:
                    with self.lock:
                        self.counts[f"{method} {name}"] += 1
                        return handler(request, **match.groupdict())
            raise HttpProblem(404, f"No resource at {request.path}")
        except HttpProblem as problem:
            return Response(problem.status, self.error_body(problem.status, problem.message))


class _RequestHandler(BaseHTTPRequestHandler):
    sim: Simulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    wbufsize = 64 * 1024  # ...or better, in one: flushed at the end of each request

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and CI logs
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        content_type = self.headers.get("Content-Type", "").lower()
        if raw and self.sim.accepts_form_bodies and (
                "application/x-www-form-urlencoded" in content_type):
            body = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"),
                                                  keep_blank_values=True).items()}
        elif raw:
            if "application/json" not in content_type:
                self._write(Response(415, self.sim.error_body(
                    415, "Unsupported media type: send application/json")))
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._write(Response(400, self.sim.error_body(400, "Malformed JSON body")))
                return
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(self.command, parts.path, query,
                          {k.lower(): v for k, v in self.headers.items()}, body, raw)
        response = self.sim.handle(request)
        if response is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def simulator_command(build: Callable[..., Simulator]) -> click.Command:
    """`lmsform simulate NAME`: the options every simulator shares (address and faults), plus
    the vendor's own, declared with click.option on `build`, which returns the simulator."""

    @functools.wraps(build)
    def serve(port: int, host: str, latency_ms: float, fail_every: int, drop_every: int,
              rate_limit: float, **vendor_options: Any) -> None:
        faults = Faults(latency_ms, fail_every, drop_every, rate_limit)
        simulator = build(faults=faults, **vendor_options)
        gc.freeze()  # the CLI keeps the collector off while planning; a server runs long
        gc.enable()
        url = simulator.start(port, host)
        click.echo(f"{simulator.announcement(url)}; Ctrl-C stops it.")
        click.echo(f"Request counts: {url}/_simulator/stats")
        simulator.wait()

    shared = [
        click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True),
        click.option("--host", default="127.0.0.1", show_default=True,
                     help="Address to listen on."),
        click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0,
                     help="Delay every answer by this much."),
        click.option("--fail-every", type=click.IntRange(min=0), default=0,
                     help="Answer every Nth request with a 500 (writes: half after acting)."),
        click.option("--drop-every", type=click.IntRange(min=0), default=0,
                     help="Drop the connection on every Nth request (writes: after acting)."),
        click.option("--rate-limit", type=click.FloatRange(min=0), default=0.0,
                     help="Requests per second; above it answer 429 with Retry-After."),
    ]
    for option in reversed(shared):
        serve = option(serve)
    return click.command(name=build.__name__.replace("_", "-"))(serve)
