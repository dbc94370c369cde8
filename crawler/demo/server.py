"""The demo news site served on 127.0.0.1, in a background thread.

with DemoSite() as site:
    print(site.base_url)     # http://127.0.0.1:<free port>
"""

from __future__ import annotations

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.demo.render import render


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path).lstrip("/")
        rendered = render(path, self.server.base_url, self.server.now)
        if rendered is None:
            self.send_error(404)
            return
        body, content_type = rendered
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(self.path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    base_url: str
    now: datetime
    requests: list[str]


class DemoSite:
    """The bundled site, on a free port of 127.0.0.1, with dates relative to `now`."""

    def __init__(self, now: datetime | None = None) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.base_url = f"http://{self.host}"
        self.server.base_url = self.base_url
        self.server.now = now or datetime.now(UTC)
        self.server.requests = []
        self.thread = Thread(target=self.server.serve_forever, name="demo-site", daemon=True)

    @property
    def requests(self) -> list[str]:
        """The paths requested so far, in order."""
        return self.server.requests

    def __enter__(self) -> DemoSite:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
