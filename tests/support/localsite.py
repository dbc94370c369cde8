"""A small local web server for tests: routes are a dict the test can change at any time.

with LocalSite() as site:
    site.route("/feed.xml", rss_bytes, "application/rss+xml")
    site.url("/feed.xml")     # http://127.0.0.1:<port>/feed.xml
    site.hits("/a.html")      # how often a path was requested
    site.answer("/hook", [Route(b"", status=500)])   # the next POSTs get these, then the route
    site.posts("/hook")       # [(headers, body)] of each POST, in order

A `responder` answers the paths no route holds, for sites made on the fly (the benchmarks' feeds
that change every cycle): `LocalSite(responder=lambda path, headers: Route(b"..."))`.
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Event, Lock, Thread
from typing import Any


@dataclass
class Route:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    delay: float = 0.0  # seconds before this route answers


Responder = Callable[[str, Mapping[str, str]], "Route | None"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path
        with self.server.lock:
            if self.server.record:
                arrived = {**dict(self.headers), "X-Arrived": str(time.time())}
                self.server.log.append((path, arrived))
            route = self.server.routes.get(path) or self.server.routes.get(path.split("?")[0])
        if route is None and self.server.responder is not None:
            route = self.server.responder(path, self.headers)
        if route is None:
            route = Route(b"not found", "text/plain", 404)
        if self.server.delay or route.delay:
            time.sleep(self.server.delay + route.delay)
        if route.hang:
            self.server.release.wait(60)  # a server that accepts and never answers
            return
        etag = route.headers.get("ETag")
        if etag and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(route)

    def do_POST(self) -> None:
        """Record the request body, then answer with the next queued answer for the path (see
        `LocalSite.answer`), else its route; an unknown path gets 200 and an empty body."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        with self.server.lock:
            headers = {**dict(self.headers), "X-Arrived": str(time.time())}
            self.server.log.append((self.path, headers))
            self.server.bodies.append((path, self.path, headers, body))
            queued = self.server.answers.get(path)
            route = queued.pop(0) if queued else self.server.routes.get(path)
        route = route or Route(b"", "text/plain")
        if route.hang:
            self.server.release.wait(60)
            return
        self._send(route)

    def _send(self, route: Route) -> None:
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the benchmarks poll thousands of feeds at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early (size limits, timeouts) are part of the tests

    routes: dict[str, Route]
    log: list[tuple[str, dict[str, str]]]
    bodies: list[tuple[str, str, dict[str, str], bytes]]  # path, path with query, headers, body
    answers: dict[str, list[Route]]
    lock: Lock
    release: Event
    delay: float
    responder: Responder | None
    record: bool


class LocalSite:
    """`tls`: serve https with this server context; `responder`: answers paths without a
    route; `record`: keep the request log (`hits`, `times`, `requests`)."""

    def __init__(
        self,
        address: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        *,
        responder: Responder | None = None,
        record: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.server = _Server((address, 0), _Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.server.routes = {"/robots.txt": Route(b"User-agent: *\nAllow: /\n", "text/plain")}
        self.server.log = []
        self.server.bodies = []
        self.server.answers = {}
        self.server.lock = Lock()
        self.server.release = Event()
        self.server.delay = delay  # seconds before each answer
        self.server.responder = responder
        self.server.record = record
        self.host = f"{address}:{self.server.server_address[1]}"
        self.thread = Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalSite:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.release.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def route(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.server.lock:
            self.server.routes[path] = Route(data, content_type, status, headers or {}, delay=delay)
        return self.url(path)

    def hang(self, path: str) -> str:
        """Serve `path` by accepting the request and never answering."""
        with self.server.lock:
            self.server.routes[path] = Route(b"", hang=True)
        return self.url(path)

    def times(self, path: str) -> list[float]:
        """When each request for `path` arrived (time.time())."""
        with self.server.lock:
            return [float(h["X-Arrived"]) for p, h in self.server.log if p == path]

    def hits(self, path: str | None = None) -> Counter[str] | int:
        with self.server.lock:
            counts = Counter(p for p, _ in self.server.log)
        return counts if path is None else counts[path]

    def requests(self) -> list[tuple[str, dict[str, str]]]:
        with self.server.lock:
            return list(self.server.log)

    def answer(self, path: str, answers: list[Route]) -> str:
        """Answer the next POSTs to `path` with `answers`, one each, then with its route."""
        with self.server.lock:
            self.server.answers[path] = list(answers)
        return self.url(path)

    def posts(self, path: str | None = None) -> list[tuple[str, dict[str, str], bytes]]:
        """(path with query, headers, body) of each POST (to `path`), in arrival order."""
        with self.server.lock:
            return [(full, h, b) for p, full, h, b in self.server.bodies if path in (None, p)]

    def clear_log(self) -> None:
        with self.server.lock:
            self.server.log.clear()
