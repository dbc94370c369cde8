"""Hostile servers, pages and feeds: each is one logged error for its URL, the time and memory
they cost are bounded, and every other source is still processed."""

from __future__ import annotations

import gzip
import json
import resource
import socket
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Event, Thread
from typing import Any

from support.pages import CASPIAN, ago, article_page, rss
from support.runner import run_crawler

BOMB = gzip.compress(b"\0" * 200_000_000)  # 200 MB of zeros in about 200 KB
DEFLATE_BOMB = zlib.compress(b"\0" * 200_000_000)

ENTITY_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lollollollollollollollollollol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]><rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>http://example.invalid/a</link></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title>
<item><title>&secret;</title><link>/leak</link><description>&secret;</description></item>
</channel></rss>"""


class Hostile(BaseHTTPRequestHandler):
    """Answers each path the way a broken or hostile server would."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def _head(self, status: int = 200, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return not self.server.stop.is_set()

    def do_GET(self) -> None:
        path = self.path
        self.server.hits.append(path)
        if path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
            self._head(Content_Type="text/plain", Content_Length=str(len(body)))
            self._write(body)
        elif path in self.server.files:
            body, kind = self.server.files[path]
            self._head(Content_Type=kind, Content_Length=str(len(body)))
            self._write(body)
        elif path == "/drip.html":  # one byte a second
            self._head(Content_Type="text/html", Content_Length="100000")
            for _ in range(60):
                if not self._write(b"<"):
                    return
                time.sleep(1)
        elif path == "/endless.html":  # a chunked body that never ends
            self._head(Content_Type="text/html", Transfer_Encoding="chunked")
            chunk = b"<p>" + b"x" * 65536 + b"</p>"
            for _ in range(100_000):
                if not self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
                    return
        elif path == "/short.html":  # Content-Length says more than is sent
            self._head(Content_Type="text/html", Content_Length="50000")
            self._write(b"<html><body><p>only this much")
            self.close_connection = True
        elif path == "/reset.html":  # the connection is reset mid-body
            self._head(Content_Type="text/html", Content_Length="50000")
            self._write(b"<html><body><p>and then")
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
            self.close_connection = True
        elif path == "/loop.html":  # redirects to itself
            self._head(302, Location="/loop.html", Content_Length="0")
        elif path == "/gzip-bomb.html":
            self._head(
                Content_Type="text/html", Content_Encoding="gzip", Content_Length=str(len(BOMB))
            )
            self._write(BOMB)
        elif path == "/deflate-bomb.html":
            self._head(
                Content_Type="text/html",
                Content_Encoding="deflate",
                Content_Length=str(len(DEFLATE_BOMB)),
            )
            self._write(DEFLATE_BOMB)
        else:
            self._head(404, Content_Length="0")


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Hostile)
        self.hits: list[str] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.stop = Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


def test_hostile_pages_and_feeds_are_errors_for_their_urls_only(tmp_path: Path) -> None:
    server = HostileServer()
    Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        pages = {
            "/binary.html": (bytes(range(256)) * 400, "text/html"),
            "/million.html": (
                b"<html><body>" + b"<div>" * 300_000 + b"deep" + b"</body></html>",
                "text/html",
            ),
            "/one-line.html": (
                b"<html><body><p>" + b"word " * 1_000_000 + b"</p></body></html>",
                "text/html",
            ),
            "/refresh.html": (
                b'<html><head><meta http-equiv="refresh" content="0;url=/refresh.html">'
                b"</head><body>x</body></html>",
                "text/html",
            ),
            "/empty.html": (b"<html><body><nav>Home</nav></body></html>", "text/html"),
            "/good.html": (article_page("Ships cross the Caspian", CASPIAN).encode(), "text/html"),
        }
        bad_pages = [
            "/drip.html",
            "/endless.html",
            "/short.html",
            "/reset.html",
            "/loop.html",
            "/gzip-bomb.html",
            "/deflate-bomb.html",
            *[p for p in pages if p != "/good.html"],
        ]
        links = [*bad_pages, "/good.html"]
        entries = [
            {"title": p, "link": server.url(p), "guid": p, "published": ago(1)} for p in links
        ]
        entries += [
            {"title": "js", "link": "javascript:alert(1)", "guid": "js"},
            {"title": "data", "link": "data:text/html,<p>x</p>", "guid": "data"},
        ]
        server.files = {
            **pages,
            "/feed.xml": (rss("Feed", entries).encode(), "application/rss+xml"),
            "/bomb.xml": (ENTITY_BOMB, "application/rss+xml"),
            "/xxe.xml": (XXE, "application/rss+xml"),
            "/empty.xml": (b"", "application/rss+xml"),
            "/html.xml": (b"<!DOCTYPE html><html><body>Not a feed</body></html>", "text/html"),
            "/big.xml": (
                b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>'
                + b"<item><title>x</title></item>" * 400_000
                + b"</channel></rss>",
                "application/rss+xml",
            ),
        }
        feeds = ["/feed.xml", "/bomb.xml", "/xxe.xml", "/empty.xml", "/html.xml", "/big.xml"]
        settings = tmp_path / "crawler.toml"
        settings.write_text(
            f'[output]\ndir = "{tmp_path / "out"}"\n'
            f'[fetch]\nallow_hosts = ["{host}"]\ndelay = "0s"\nworkers = 1\ntimeout = "3s"\n'
            'max_page_size = "8MB"\nper_domain = 8\n'
            + "".join(f'[[feeds]]\nurl = "{server.url(f)}"\n' for f in feeds)
            + '[[topics]]\nname = "caspian"\nquery = "Caspian"\n'
        )
        started = time.monotonic()
        result = run_crawler("--settings", str(settings), "once", cwd=tmp_path, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert elapsed < 60, elapsed
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 1_000_000, f"a process of the run peaked at {peak_kib // 1024} MiB"
    print(f"hostile run: {elapsed:.1f} s, peak RSS {peak_kib // 1024} MiB")
    assert "Traceback" not in result.stderr
    new = tmp_path / "out" / "queue" / "new"
    titles = [json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json")]
    assert titles == ["Ships cross the Caspian"]
    lines = result.stderr.splitlines()
    for path in [
        "/drip.html",
        "/endless.html",
        "/short.html",
        "/reset.html",
        "/loop.html",
        "/gzip-bomb.html",
        "/deflate-bomb.html",
    ]:
        assert any(f"url={server.url(path)}" in line for line in lines), path
    for feed in ["/empty.xml", "/html.xml"]:
        assert any("source failed" in line and feed in line for line in lines), feed
    assert "root:" not in (tmp_path / "out" / "state.db").read_bytes().decode("latin-1")
