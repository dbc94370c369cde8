"""Sitemaps and sites without feeds, end to end against a local server."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

from test_daemon import settings_text

from crawler.sources.sitemaps import parse_sitemap

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, SITE_STORY, WIRE, ago, article_page
from support.runner import base_settings, run_crawler

NS = (
    'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
)


def urlset(entries: list[tuple[str, datetime, str | None]]) -> bytes:
    urls = []
    for loc, when, title in entries:
        news = (
            f"<news:news><news:publication><news:name>Wire</news:name>"
            f"<news:language>en</news:language></news:publication>"
            f"<news:publication_date>{when.isoformat()}</news:publication_date>"
            f"<news:title>{title}</news:title></news:news>"
            if title
            else ""
        )
        urls.append(f"<url><loc>{loc}</loc><lastmod>{when.isoformat()}</lastmod>{news}</url>")
    return f'<?xml version="1.0"?><urlset {NS}>{"".join(urls)}</urlset>'.encode()


def index(children: list[tuple[str, datetime]]) -> bytes:
    maps = "".join(
        f"<sitemap><loc>{u}</loc><lastmod>{w.isoformat()}</lastmod></sitemap>" for u, w in children
    )
    return f'<?xml version="1.0"?><sitemapindex {NS}>{maps}</sitemapindex>'.encode()


def _settings(tmp_path: Path, site: LocalSite, sources: str) -> Path:
    path = tmp_path / "crawler.toml"
    path.write_text(f"""
{base_settings(tmp_path, site)}{sources}
[[topics]]
name = "caspian"
query = "Caspian"
""")
    return path


def _titles(tmp_path: Path) -> list[str]:
    new = tmp_path / "out" / "queue" / "new"
    return sorted(json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json"))


def test_parse_a_news_sitemap() -> None:
    body = urlset(
        [("https://e.example/a", ago(1), "Headline A"), ("https://e.example/b", ago(2), None)]
    )
    parsed = parse_sitemap(gzip.compress(body))
    assert parsed.kind == "urlset"
    assert [(e.url, e.title) for e in parsed.entries] == [
        ("https://e.example/a", "Headline A"),
        ("https://e.example/b", None),
    ]
    assert parsed.entries[0].published is not None


def test_a_news_sitemap_index_with_two_gzip_children(site: LocalSite, tmp_path: Path) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/b.html", article_page("Insurers pull cover", WIRE))
    site.route("/old.html", article_page("Old Caspian story", SITE_STORY))
    site.route(
        "/news-1.xml.gz",
        gzip.compress(urlset([(site.url("/a.html"), ago(2), "Ships")])),
        "application/x-gzip",
    )
    site.route(
        "/news-2.xml.gz",
        gzip.compress(
            urlset(
                [
                    (site.url("/b.html"), ago(3), "Insurers"),
                    (site.url("/old.html"), ago(24 * 9), "Old"),
                ]
            )
        ),
        "application/x-gzip",
    )
    site.route(
        "/archive-2019.xml",
        urlset([(site.url("/old.html"), ago(24 * 2000), None)]),
        "application/xml",
    )
    site.route(
        "/sitemap_index.xml",
        index(
            [
                (site.url("/news-1.xml.gz"), ago(1)),
                (site.url("/news-2.xml.gz"), ago(2)),
                (site.url("/archive-2019.xml"), ago(24 * 2000)),
            ]
        ),
        "application/xml",
    )
    settings = _settings(tmp_path, site, f'[[sitemaps]]\nurl = "{site.url("/sitemap_index.xml")}"')
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _titles(tmp_path) == ["Insurers pull cover", "Ships cross the Caspian"]
    assert site.hits("/old.html") == 0 and site.hits("/archive-2019.xml") == 0  # past max_age

    site.clear_log()
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    fetched = {p for p, _ in site.requests()}
    assert not fetched & {"/a.html", "/b.html"}, fetched  # nothing seen is fetched again


def test_a_child_sitemap_that_failed_is_fetched_again_though_unchanged(
    site: LocalSite, tmp_path: Path
) -> None:
    """Children not modified since the last poll are skipped, but not after a poll with errors:
    a child that failed then (here a 503) is fetched at the next poll."""
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/news.xml", "busy", "text/plain", status=503)
    site.route("/sitemap_index.xml", index([(site.url("/news.xml"), ago(1))]), "application/xml")
    settings = _settings(tmp_path, site, f'[[sitemaps]]\nurl = "{site.url("/sitemap_index.xml")}"')
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert _titles(tmp_path) == []
    site.route("/news.xml", urlset([(site.url("/a.html"), ago(2), "Ships")]), "application/xml")
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert _titles(tmp_path) == ["Ships cross the Caspian"]


def test_sitemaps_named_in_robots_txt(site: LocalSite, tmp_path: Path) -> None:
    site.route(
        "/robots.txt", f"User-agent: *\nAllow: /\nSitemap: {site.url('/news.xml')}\n", "text/plain"
    )
    site.route("/news.xml", urlset([(site.url("/a.html"), ago(1), "Ships")]), "application/xml")
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    settings = _settings(tmp_path, site, f'[[sitemaps]]\nurl = "{site.url("/robots.txt")}"')
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _titles(tmp_path) == ["Ships cross the Caspian"]


def test_a_site_crawl_two_levels_down_within_its_budget(site: LocalSite, tmp_path: Path) -> None:
    site.route(
        "/news/",
        '<a href="/news/page/2">More</a> <a href="/tag/ports/">Ports</a>'
        '<a href="/news/2026/a.html">A</a><a href="/about/">About</a>',
    )
    site.route(
        "/news/page/2",
        '<a href="/news/2026/deep.html">Deep</a>'
        '<a href="/news/2026/short.html">Short</a><a href="/news/2026/c.html">C</a>'
        '<a href="/news/">Back</a>',
    )
    site.route("/news/2026/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route(
        "/news/2026/deep.html", article_page("Freighter held at the Caspian port", SITE_STORY)
    )
    site.route("/news/2026/short.html", article_page("Caspian brief", ["The Caspian is calm."]))
    site.route("/news/2026/c.html", article_page("Honey fair", OFF_TOPIC))
    site.route("/tag/ports/", article_page("Caspian ports tag", CASPIAN))
    sources = f"""
[[sites]]
start = "{site.url("/news/")}"
allow = ['/news/\\d{{4}}/']
follow = ['/news/page/\\d+']
depth = 2
budget = 3
"""
    settings = _settings(tmp_path, site, sources)
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _titles(tmp_path) == ["Freighter held at the Caspian port", "Ships cross the Caspian"]
    assert site.hits("/tag/ports/") == 0 and site.hits("/about/") == 0
    articles = [
        p
        for p in (
            "/news/2026/a.html",
            "/news/2026/deep.html",
            "/news/2026/short.html",
            "/news/2026/c.html",
        )
        if site.hits(p)
    ]
    assert len(articles) == 3  # the budget
    assert site.hits("/news/page/2") == 1


def test_the_daemon_watches_a_sitemap_only_site_and_a_sections_only_site(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/news.xml", urlset([(site.url("/a.html"), ago(1), "Ships")]), "application/xml")
    site.route("/world/", '<a href="/world/2026/s.html">S</a>')
    site.route("/world/2026/s.html", article_page("Freighter held at Aktau", SITE_STORY))
    settings = tmp_path / "crawler.toml"
    text = settings_text(tmp_path, [site.host], [])
    text += f'\n[[sitemaps]]\nurl = "{site.url("/news.xml")}"\nevery = "1s"\n'
    text += (
        f'\n[[sites]]\nstart = "{site.url("/world/")}"\n'
        "allow = ['/world/\\d{4}/']\nevery = \"1s\"\n"
    )
    settings.write_text(text)
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(_titles(tmp_path)) == 2, what="the first two items")
    site.route("/b.html", article_page("Insurers pull cover on the Caspian", WIRE))
    site.route(
        "/news.xml",
        urlset([(site.url("/a.html"), ago(1), "Ships"), (site.url("/b.html"), ago(0), "Insurers")]),
        "application/xml",
    )
    site.route(
        "/world/2026/t.html", article_page("Caspian honey and shipping", [*OFF_TOPIC, *CASPIAN])
    )
    site.route("/world/", '<a href="/world/2026/s.html">S</a><a href="/world/2026/t.html">T</a>')
    wait_for(lambda: len(_titles(tmp_path)) == 4, timeout=20, what="the new articles")
    assert daemon.stop() == 0
