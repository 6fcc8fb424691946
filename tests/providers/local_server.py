"""A tiny HTTP server on a real socket (127.0.0.1, port 0) for the provider tests: every
request is answered by a Python function, and recorded."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None


Answer = Callable[[Seen], "Reply | None"]  # None: drop the connection without answering


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (port 0) that answers every request by calling
    `answer`, and records what it saw. An exception in `answer` (a failed assertion about a
    request) is answered with a 500 and raised again when the server stops."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or (lambda seen: Reply())
        self.seen: list[Seen] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the answer in one write: headers and body in two would wait on the client's
            # delayed ACK (Nagle), tens of ms a request (as the simulators do)
            disable_nagle_algorithm = True
            wbufsize = 64 * 1024

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(self.command, parts.path,
                            {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()}, raw)
                with server.lock:
                    server.seen.append(seen)
                try:
                    reply = server.answer(seen)
                except Exception as exc:
                    server.errors.append(exc)
                    reply = Reply(500, text=f"test server: {exc!r}")
                if reply is None:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = (reply.text.encode() if reply.text is not None
                           else b"" if reply.json is None else json.dumps(reply.json).encode())
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.json is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.002}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for s in self.seen if method in (None, s.method)
                       and path in (None, s.path))

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.errors and exc[0] is None:
            raise self.errors[0]


class InFlight:
    """How many calls run at once, and the most there ever were: for the tests of bounds on
    concurrent requests, pages and fan-out."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def one(self, seconds: float = 0.01) -> Iterator[None]:
        """A call in flight for at least `seconds` (so that others overlap it)."""
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(seconds)
            yield
        finally:
            with self._lock:
                self.now -= 1
