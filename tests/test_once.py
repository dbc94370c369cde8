"""`crawler once` end to end: a real process against a local server of feeds and pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.localsite import LocalSite
from support.pages import (
    CASPIAN,
    JUNK_MARKERS,
    OFF_TOPIC,
    SITE_STORY,
    WIRE,
    ago,
    article_page,
    atom,
    rss,
)
from support.runner import base_settings, run_crawler

TOPIC = 'Caspian AND (drone* OR "artillery shells" OR ammunition OR munitions)'


def _serve(site: LocalSite) -> None:
    site.route("/a/caspian.html", article_page("Cargo ships cross the Caspian", CASPIAN))
    site.route("/a/honey.html", article_page("Honey fair draws record crowds", OFF_TOPIC))
    site.route("/a/wire-copy.html", article_page("Insurers pull cover", WIRE, outlet="Courier"))
    site.route("/b/wire.html", article_page("Insurers withdraw cover", WIRE, outlet="Herald"))
    site.route(
        "/a/caspian-amp.html",
        article_page(
            "Cargo ships cross the Caspian",
            [*CASPIAN[:2], "AMP edition."],
            canonical=site.url("/a/caspian.html"),
        ),
    )
    site.route("/a/gone.html", "gone", status=404)
    site.route("/a/broken.html", "oops", status=500)
    site.route("/a/report.pdf", b"%PDF-1.7\n" + b"\x00binary" * 100, "application/pdf")
    site.route("/a/huge.html", article_page("Huge", [*CASPIAN, "padding " * 60_000]))
    site.route(
        "/a/rss.xml",
        rss(
            "The Courier",
            [
                {
                    "title": "Cargo ships",
                    "link": site.url("/a/caspian.html?utm_source=rss"),
                    "guid": "a-1",
                    "published": ago(2),
                    "summary": "Ships cross the sea.",
                },
                {
                    "title": "Honey",
                    "link": site.url("/a/honey.html"),
                    "guid": "a-2",
                    "published": ago(3),
                },
                {
                    "title": "Insurers",
                    "link": site.url("/a/wire-copy.html"),
                    "guid": "a-3",
                    "published": ago(4),
                },
                {
                    "title": "Old",
                    "link": site.url("/a/old.html"),
                    "guid": "a-4",
                    "published": ago(24 * 10),
                },
                {"title": "Local file", "link": "file:///etc/passwd", "guid": "a-5"},
                {"title": "Gone", "link": site.url("/a/gone.html"), "guid": "a-6"},
                {"title": "Broken", "link": site.url("/a/broken.html"), "guid": "a-7"},
                {"title": "PDF", "link": site.url("/a/report.pdf"), "guid": "a-8"},
                {"title": "Huge", "link": site.url("/a/huge.html"), "guid": "a-9"},
                {
                    "title": "AMP",
                    "link": site.url("/a/caspian-amp.html"),
                    "guid": "a-10",
                    "published": ago(1),
                },
            ],
        ),
        "application/rss+xml",
    )
    site.route(
        "/b/atom.xml",
        atom(
            "Herald",
            [
                {
                    "title": "Insurers",
                    "id": "b-1",
                    "link": site.url("/b/wire.html"),
                    "published": ago(2),
                }
            ],
        ),
        "application/atom+xml",
    )
    site.route("/c/feed.xml", b"<rss><channel><item><title>broken &bogus; <<<", "text/xml")
    site.route("/d/feed.xml", b"\x00\x01 this is no feed {{{", "application/rss+xml")
    site.route(
        "/s/world/",
        '<html><body><a href="/s/world/2026/aktau.html">Aktau</a>'
        '<a href="/s/tag/ports/">Ports tag</a><a href="/s/about/">About</a></body></html>',
    )
    site.route("/s/world/2026/aktau.html", article_page("Freighter held at Aktau", SITE_STORY))
    site.route("/s/tag/ports/", article_page("Ports", OFF_TOPIC))


def _settings(site: LocalSite, tmp_path: Path) -> Path:
    path = tmp_path / "crawler.toml"
    path.write_text(
        f"""
[output]
dir = "{tmp_path / "out"}"

[fetch]
allow_hosts = ["{site.host}"]
delay = "0s"
max_page_size = "200KB"
workers = 1

[[feeds]]
url = "{site.url("/a/rss.xml")}"

[[feeds]]
url = "{site.url("/b/atom.xml")}"

[[feeds]]
url = "{site.url("/c/feed.xml")}"

[[feeds]]
url = "{site.url("/d/feed.xml")}"

[[sites]]
start = "{site.url("/s/world/")}"
allow = ['/s/world/\\d{{4}}/']
depth = 1

[[topics]]
name = "caspian-arms"
query = '{TOPIC}'
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def first_run(site: LocalSite, tmp_path: Path):
    _serve(site)
    settings = _settings(site, tmp_path)
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    return site, tmp_path, settings, result


def _items(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def test_once_queues_clean_on_topic_items_once(first_run) -> None:
    site, tmp_path, _, result = first_run
    assert result.returncode == 0, result.stderr
    items = _items(tmp_path)
    titles = sorted(item["title"] for item in items)
    # on-topic from the RSS feed, the wire story once, the article found by the site spider
    assert len(items) == 3, titles
    assert "Cargo ships cross the Caspian" in titles
    assert "Freighter held at Aktau" in titles
    assert sum(1 for item in items if item["text"].startswith(WIRE[0][:40])) == 1
    for item in items:
        assert item["schema"] == 1 and item["id"] and item["content_hash"]
        assert item["topics"][0]["name"] == "caspian-arms" and item["topics"][0]["terms"]
        assert item["source"]["kind"] in ("feed", "site")
        for marker in JUNK_MARKERS:
            assert marker not in item["text"], (marker, item["url"])
    caspian = next(i for i in items if i["title"] == "Cargo ships cross the Caspian")
    assert "utm_source" in caspian["url"] or caspian["url"].endswith("/a/caspian.html")
    assert caspian["summary"] == "Ships cross the sea."
    assert caspian["published"] is not None

    # what was never fetched
    assert site.hits("/a/old.html") == 0  # older than max_age
    assert site.hits("/s/tag/ports/") == 0 and site.hits("/s/about/") == 0  # not allowed
    # one clear line per failure, and the summary
    lines = result.stderr.splitlines()
    assert any("/c/feed.xml" in line and "malformed" in line for line in lines)
    assert any("/d/feed.xml" in line and "not a feed" in line for line in lines)
    assert any("/a/huge.html" in line and "max_page_size" in line for line in lines)
    assert any("/a/gone.html" in line and "HTTP 404" in line for line in lines)
    assert any("file:" in line and "refused" in line for line in lines)
    assert "/a/broken.html" in result.stderr
    assert "Traceback" not in result.stderr
    assert "queued 3" in result.stdout


def test_a_second_pass_fetches_no_article_again_and_queues_nothing(first_run) -> None:
    site, tmp_path, settings, _ = first_run
    site.clear_log()
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(_items(tmp_path)) == 3
    fetched = {path for path, _ in site.requests()}
    sources = {
        "/robots.txt",
        "/a/rss.xml",
        "/b/atom.xml",
        "/c/feed.xml",
        "/d/feed.xml",
        "/s/world/",
    }
    # only the sources, and the page that failed for a temporary reason (500) is tried again
    assert fetched - sources <= {"/a/broken.html"}, fetched
    assert "queued 0" in result.stdout


def test_queue_commands(first_run) -> None:
    _, tmp_path, settings, _ = first_run
    listing = run_crawler("--settings", str(settings), "queue", "ls", cwd=tmp_path)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 3
    first_id = listing.stdout.split()[0]
    shown = run_crawler("--settings", str(settings), "queue", "show", first_id, cwd=tmp_path)
    assert json.loads(shown.stdout)["id"] == first_id
    taken = run_crawler("--settings", str(settings), "queue", "take", cwd=tmp_path)
    assert json.loads(taken.stdout)["id"] == first_id
    assert len(_items(tmp_path)) == 2
    assert len(list((tmp_path / "out" / "queue" / "cur").glob("*.json"))) == 1


def test_an_entry_republished_with_a_new_guid_is_not_a_new_item(
    site: LocalSite, tmp_path: Path
) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site) + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )
    for guid in ("guid-1", "guid-2", "guid-3"):  # a feed that mints a new guid on every poll
        entry = {
            "title": "a",
            "link": site.url("/a.html?utm_source=rss"),
            "guid": guid,
            "published": ago(1),
        }
        site.route("/feed.xml", rss("Feed", [entry]), "application/rss+xml")
        assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert len(_items(tmp_path)) == 1
    assert site.hits("/a.html?utm_source=rss") == 1


def test_an_entry_whose_page_failed_is_fetched_again_though_the_feed_is_unchanged(
    site: LocalSite, tmp_path: Path
) -> None:
    """The feed's validators are kept only once every entry is settled: a page that failed
    (503 here; a crash or a full disk likewise) is not hidden behind a 304 on the next poll."""
    site.route("/a.html", "down for maintenance", "text/plain", status=503)
    entry = {"title": "a", "link": site.url("/a.html"), "guid": "1", "published": ago(1)}
    site.route("/feed.xml", rss("Feed", [entry]), "application/rss+xml", headers={"ETag": '"v1"'})
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site) + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )

    def once() -> None:
        result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr

    once()
    assert _items(tmp_path) == []
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    once()  # the feed did not change, but its entry is still open: asked in full, not 304
    assert [item["title"] for item in _items(tmp_path)] == ["Ships cross the Caspian"]
    polls = [h for p, h in site.requests() if p == "/feed.xml"]
    assert all("If-None-Match" not in h for h in polls)
    site.clear_log()
    once()  # nothing new: this poll's validators are kept
    once()  # so the next one is conditional, and nothing is fetched
    polls = [h for p, h in site.requests() if p == "/feed.xml"]
    assert polls[-1]["If-None-Match"] == '"v1"' and site.hits("/a.html") == 0
    assert len(_items(tmp_path)) == 1
