"""Links in feeds are untrusted: a canary server on a loopback address that is not allowed must
receive nothing, whatever the spelling of its address, and through redirects."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import pytest

from support.localsite import LocalSite
from support.pages import CASPIAN, ago, article_page, rss
from support.runner import base_settings, run_crawler


def test_no_request_reaches_a_host_that_is_not_allowed(site: LocalSite, tmp_path: Path) -> None:
    with LocalSite("127.0.0.2") as canary, LocalSite("127.0.0.1") as neighbour:
        port, other = canary.server.server_address[1], neighbour.server.server_address[1]
        for server in (canary, neighbour):
            server.route("/x", article_page("Caspian secrets", CASPIAN))
        site.route("/good.html", article_page("Ships cross the Caspian", CASPIAN))
        site.route("/redirect", "", status=302, headers={"Location": canary.url("/x")})
        site.route(
            "/redirect-neighbour",
            "",
            status=301,
            headers={"Location": f"http://localhost:{other}/x"},
        )
        links = [
            canary.url("/x"),
            f"http://2130706434:{port}/x",  # 127.0.0.2 as one number
            f"http://0x7f000002:{port}/x",  # in hex
            f"http://0177.0.0.2:{port}/x",  # in octal
            f"http://[::ffff:127.0.0.2]:{port}/x",  # IPv4-mapped IPv6
            f"http://localhost:{other}/x",  # a name for a loopback address on another port
            f"http://127.1:{other}/x",  # the short form
            site.url("/redirect"),
            site.url("/redirect-neighbour"),
            site.url("/good.html"),
        ]
        entries = [
            {"title": f"e{n}", "link": link, "guid": str(n), "published": ago(1)}
            for n, link in enumerate(links)
        ]
        site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")
        settings = tmp_path / "crawler.toml"
        settings.write_text(f"""
{base_settings(tmp_path, site)}[[feeds]]
url = "{site.url("/feed.xml")}"
""")
        result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert canary.hits() == {}, canary.hits()
        assert neighbour.hits() == {}, neighbour.hits()
    new = tmp_path / "out" / "queue" / "new"
    titles = [json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json")]
    assert titles == ["Ships cross the Caspian"]  # everything else carried on
    assert "Traceback" not in result.stderr


def test_command_line_fetches_check_the_resolved_address() -> None:
    """The command-line fetches check what a name resolves to (crawler.guard.fetch)."""
    from crawler.errors import FetchError
    from crawler.guard import fetch, resolved_refusal

    with pytest.raises(FetchError, match="host localhost is local"):
        fetch("http://localhost:8080/feed", user_agent="t", allow_hosts=[], timeout=5, max_bytes=9)
    name = socket.gethostname()  # this machine's name resolves to its own, non-public address
    addresses = [str(info[4][0]) for info in socket.getaddrinfo(name, 80)]
    if not any(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        assert "not public" in (resolved_refusal(name, 8080, addresses, []) or "")
        with pytest.raises(FetchError, match="not public"):
            fetch(f"http://{name}:8080/", user_agent="t", allow_hosts=[], timeout=5, max_bytes=9)
    assert resolved_refusal("localhost", 8080, ["127.0.0.1"], ["localhost:8080"]) is None
    assert resolved_refusal("dns.example", 80, ["8.8.8.8"], []) is None  # a public address
