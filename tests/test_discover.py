"""Feed discovery against a local site: feed links, anchors, the usual paths, the URL guard, and
`crawler sources discover --add` on a settings file with comments."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from crawler.config import load_settings
from crawler.sources.discover import DiscoveredFeed, DiscoveryError, discover

from support.localsite import LocalSite
from support.pages import atom, rss
from support.runner import run_crawler


def items(n: int) -> list[dict[str, object]]:
    return [{"title": f"Story {i}", "link": f"http://example.invalid/{i}"} for i in range(n)]


def entries(n: int) -> list[dict[str, object]]:
    return [
        {"title": f"Entry {i}", "id": f"tag:e,{i}", "link": f"http://example.invalid/e{i}"}
        for i in range(n)
    ]


HOME = """<!DOCTYPE html><html><head><title>The Courier</title>
<link rel="alternate" type="application/rss+xml" title="Courier (RSS)" href="/rss.xml">
<link rel="alternate nofollow" type="application/atom+xml; charset=utf-8" href="news/atom.xml">
<link rel="alternate" type="application/rss+xml" title="Gone" href="/gone.xml">
<link rel="alternate" type="application/rss+xml" title="A page" href="/about.html">
<link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed/">
<link rel="stylesheet" href="/style.css">
</head><body><p>News of the day.</p><a href="/about.html">About</a></body></html>"""


def serve_courier(site: LocalSite) -> None:
    site.route("/", HOME)
    site.route("/rss.xml", rss("Courier News", items(3)), "application/rss+xml")
    site.route("/news/atom.xml", atom("Courier Atom", entries(2)), "application/atom+xml")
    site.route("/about.html", "<html><body><p>About us</p></body></html>")
    site.route("/comments/feed/", rss("Comments", items(1)), "application/rss+xml")


def find(site: LocalSite, path: str = "/", max_bytes: int = 10**6) -> list[DiscoveredFeed]:
    return discover(
        site.url(path),
        user_agent="crawler-test/1",
        allow_hosts=[site.host],
        timeout=5,
        max_bytes=max_bytes,
    )


def test_feed_links_on_a_page(site: LocalSite) -> None:
    serve_courier(site)
    found = find(site)
    feeds = [f for f in found if f.ok]
    assert [(f.url, f.kind, f.title, f.entries, f.origin) for f in feeds] == [
        (site.url("/rss.xml"), "rss", "Courier News", 3, "link"),
        (site.url("/news/atom.xml"), "atom", "Courier Atom", 2, "link"),
    ]
    failed = {f.url: f.error for f in found if not f.ok}
    assert failed == {
        site.url("/gone.xml"): "HTTP 404 Not Found",
        site.url("/about.html"): "not a feed: the server sent an HTML page",
    }
    assert site.hits("/comments/feed/") == 0  # comment feeds are not offered
    assert site.hits("/feed") == 0  # the page has feeds: no guessing
    assert all(h["User-Agent"] == "crawler-test/1" for _, h in site.requests())


def test_a_feed_only_at_a_usual_path(site: LocalSite) -> None:
    site.route("/blog/", "<html><head><title>Blog</title></head><body><p>Hi</p></body></html>")
    site.route("/index.xml", rss("Only Here", items(4)), "text/xml")
    found = find(site, "/blog/")
    assert [(f.url, f.title, f.entries, f.origin) for f in found if f.ok] == [
        (site.url("/index.xml"), "Only Here", 4, "path")
    ]
    assert {f.error for f in found if not f.ok} == {"HTTP 404 Not Found"}
    assert site.hits("/feed") == 1 and site.hits("/rss.xml") == 1


def test_anchors_base_href_json_and_the_same_feed_twice(site: LocalSite) -> None:
    json_feed = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}
    site.route(
        "/",
        '<html><head><base href="/sub/"></head><body><a href="feed.json">feed</a>'
        '<a href="/old-rss">RSS</a><a href="/x.html">x</a></body></html>',
    )
    site.route("/sub/feed.json", json.dumps(json_feed), "application/feed+json")
    site.route("/old-rss", b"", status=301, headers={"Location": "/sub/feed.json"})
    found = find(site)
    assert [(f.url, f.kind, f.title, f.entries, f.origin) for f in found] == [
        (site.url("/sub/feed.json"), "json", "J", 0, "anchor")
    ]  # /old-rss redirects to the same feed: listed once


def test_a_feed_url_is_its_own_answer(site: LocalSite) -> None:
    site.route("/atom", atom("Direct", entries(1)), "application/atom+xml")
    assert [(f.url, f.kind, f.title, f.origin) for f in find(site, "/atom")] == [
        (site.url("/atom"), "atom", "Direct", "self")
    ]
    site.route("/rss", rss("Mislabelled", items(2)), "text/html")  # servers do this
    assert [(f.url, f.kind, f.title, f.origin) for f in find(site, "/rss")] == [
        (site.url("/rss"), "rss", "Mislabelled", "self")
    ]


def test_the_url_guard_and_the_size_cap(site: LocalSite) -> None:
    serve_courier(site)
    with pytest.raises(DiscoveryError, match=r"refused: address 127\.0\.0\.1 is not public"):
        discover(site.url("/"), user_agent="t", allow_hosts=[], timeout=5)
    with pytest.raises(DiscoveryError, match=r"scheme 'file' is not http"):
        discover("file:///etc/passwd", user_agent="t", allow_hosts=[], timeout=5)
    site.route(
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/away">'
        '<link rel="alternate" type="application/rss+xml" href="ftp://files.example/rss">'
        '<link rel="alternate" type="application/rss+xml" href="/rss.xml"></head></html>',
    )
    site.route("/away", b"", status=302, headers={"Location": "http://localhost:9/feed"})
    found = find(site)
    errors = {f.url: f.error for f in found if not f.ok}
    assert errors[site.url("/away")] == (
        "redirect to http://localhost:9/feed refused: host localhost is local"
    )
    assert errors["ftp://files.example/rss"] == "refused: scheme 'ftp' is not http(s)"
    with pytest.raises(DiscoveryError, match="larger than 100 bytes"):
        find(site, max_bytes=100)


def test_discover_add_keeps_the_comments(site: LocalSite, tmp_path: Path) -> None:
    serve_courier(site)
    original = f"""\
# Our settings. Comments here must survive.
[fetch]
allow_hosts = ["{site.host}"]   # the local test site

[[feeds]]
url = "https://example.org/rss.xml"  # the first feed
every = "5m"

# Topics below
[[topics]]
name = "all-news"
query = "news"
"""
    settings = tmp_path / "crawler.toml"
    settings.write_text(original)
    listed = run_crawler(
        "--settings", "crawler.toml", "sources", "discover", site.url("/"), cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    assert f"rss   {site.url('/rss.xml')}  Courier News  (3 entries)" in listed.stdout
    assert f"atom  {site.url('/news/atom.xml')}  Courier Atom  (2 entries)" in listed.stdout
    assert f"failed  {site.url('/gone.xml')}  HTTP 404 Not Found" in listed.stdout
    assert "2 feed(s) found" in listed.stdout
    assert settings.read_text() == original

    added = run_crawler(
        "--settings", "crawler.toml", "sources", "discover", site.url("/"), "--add", cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    assert f"added  {site.url('/rss.xml')}  Courier News" in added.stdout
    assert "2 added to crawler.toml, 0 already there" in added.stdout
    text = settings.read_text()
    matcher = difflib.SequenceMatcher(a=original, b=text, autojunk=False)
    assert {op for op, *_ in matcher.get_opcodes()} == {"equal", "insert"}
    assert text.index("the first feed") < text.index(site.url("/rss.xml")) < text.index("# Topics")
    check = run_crawler("--settings", "crawler.toml", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert f"{site.url('/news/atom.xml')}  every 10m  (Courier Atom)" in check.stdout
    assert [f.url for f in load_settings(settings).feeds][1:] == [
        site.url("/rss.xml"),
        site.url("/news/atom.xml"),
    ]

    again = run_crawler(
        "--settings", "crawler.toml", "sources", "discover", site.url("/"), "--add", cwd=tmp_path
    )
    assert "0 added to crawler.toml, 2 already there" in again.stdout
    assert settings.read_text() == text


def test_discover_with_nothing_to_find(site: LocalSite, tmp_path: Path) -> None:
    site.route("/", "<html><body><p>No feeds here</p></body></html>")
    (tmp_path / "crawler.toml").write_text(f'[fetch]\nallow_hosts = ["{site.host}"]\n')
    result = run_crawler(
        "--settings", "crawler.toml", "sources", "discover", site.url("/"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "no feed at the usual paths (/feed, /rss," in result.stdout
    assert "0 feed(s) found" in result.stdout and "failed" not in result.stdout
    refused = run_crawler("sources", "discover", site.url("/"), cwd=tmp_path)  # no settings
    assert refused.returncode == 1
    assert "refused: address 127.0.0.1 is not public" in refused.stderr
    assert "Traceback" not in refused.stderr
