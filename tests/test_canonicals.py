"""Canonical URLs are honoured within a site only: one outlet cannot suppress another's story."""

from __future__ import annotations

import json
from pathlib import Path

from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, WIRE, ago, article_page, rss
from support.runner import base_settings, run_crawler


def _items(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def _feed(site: LocalSite, path: str, links: list[str]) -> str:
    entries = [{"title": u, "link": u, "guid": u, "published": ago(1)} for u in links]
    return site.route(path, rss("Feed", entries), "application/rss+xml")


def test_a_canonical_naming_another_site_neither_marks_it_seen_nor_drops(
    site: LocalSite, tmp_path: Path
) -> None:
    # outlet A is 127.0.0.1:<port>, outlet B is localhost:<port> (another site, same server)
    port = site.host.rsplit(":", 1)[1]
    outlet_b = f"http://localhost:{port}"
    b_story = f"{outlet_b}/b/caspian.html"
    site.route("/b/caspian.html", article_page("Cargo ships cross the Caspian", CASPIAN))
    site.route(
        "/a/honey.html",
        article_page("Honey fair draws record crowds", OFF_TOPIC, canonical=b_story),
    )
    # A's own copy of an A story: the same-site canonical still counts
    site.route("/a/wire.html", article_page("Insurers pull cover", WIRE))
    site.route(
        "/a/wire-amp.html",
        article_page(
            "Insurers pull cover", [*WIRE[:3], "AMP edition."], canonical=site.url("/a/wire.html")
        ),
    )
    feed_a = _feed(site, "/a/feed.xml", [site.url("/a/honey.html"), site.url("/a/wire.html")])
    settings = tmp_path / "crawler.toml"
    allow = f'allow_hosts = ["{site.host}", "localhost:{port}"]'
    base = base_settings(tmp_path, site).replace(f'allow_hosts = ["{site.host}"]', allow)
    settings.write_text(f'{base}[[feeds]]\nurl = "{feed_a}"\n')
    first = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (honey, wire) = sorted(_items(tmp_path), key=lambda i: i["url"])
    assert honey["canonical_url"] == b_story  # the claim is kept in the item

    # later outlet B's feed is polled: B's story is fetched and queued as B's
    feed_b = _feed(site, "/b/feed.xml", [b_story, f"{site.url('/a/wire-amp.html')}"])
    settings.write_text(f'{base}[[feeds]]\nurl = "{feed_a}"\n[[feeds]]\nurl = "{feed_b}"\n')
    second = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert site.hits("/b/caspian.html") == 1
    urls = sorted(item["url"] for item in _items(tmp_path))
    assert urls == sorted([honey["url"], wire["url"], b_story])
