"""Text that is not valid or printable, from hostile feeds and pages, through `crawler once`:
lone surrogates and control characters become U+FFFD at the edge, the poll is recorded, every
entry is delivered once and nothing is fetched again."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crawler.queue import Queue

from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, SITE_STORY, WIRE, ago, article_page
from support.runner import base_settings, run_crawler

# what must never reach an item: C0/C1 controls but tab and newline, DEL, lone surrogates
BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def json_feed(site: LocalSite) -> bytes:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "The \ud800 Courier\x1b[2J",
        "items": [
            {  # a lone surrogate in the id and in the link
                "id": "caspian-\ud800",
                "url": site.url("/j/caspian.html") + "?ref=\udc00",
                "title": "Cargo ships",
                "date_published": ago(1).isoformat(),
            },
            {  # in the title, summary and author, with NUL, ESC and BEL
                "id": "wire",
                "url": site.url("/j/wire.html"),
                "title": "Insurers \udc00 pull \x1b[31mcover\x07",
                "summary": "Cover\x00 withdrawn \ud83d for \x1b]0;owned\x07 ships",
                "authors": [{"name": "Ann\x1b[5m \ud800Writer"}],
                "date_published": ago(1).isoformat(),
            },
        ],
    }
    return json.dumps(feed).encode()  # json.dumps writes the lone surrogates as \\ud800 escapes


def rss_feed(site: LocalSite) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        "<title>Bell\x07 &#27;Herald</title><link>http://example.invalid/</link>"
        f"<item><title>Freighter \x1b[1mheld\x00</title><link>{site.url('/r/story.html')}</link>"
        "<guid isPermaLink='false'>story-\x1b</guid>"
        "<description>Held &#7; for eleven \x08 hours</description></item>"
        f"<item><title>Honey fair</title><link>{site.url('/r/honey.html')}</link>"
        "<guid isPermaLink='false'>honey</guid></item>"
        "</channel></rss>"
    ).encode()


def serve(site: LocalSite) -> None:
    site.route("/j/feed.json", json_feed(site), "application/feed+json")
    site.route("/r/rss.xml", rss_feed(site), "application/rss+xml")
    site.route("/j/caspian.html", article_page("Cargo ships cross the Caspian", CASPIAN))
    site.route("/j/wire.html", article_page("Insurers pull cover", WIRE))
    # page-derived fields with control characters: the item builder cleans them
    site.route(
        "/r/story.html",
        article_page("Freighter \x1b[31mheld\x07 at Aktau", SITE_STORY, author="Bo\x1b Reporter"),
    )
    site.route("/r/honey.html", article_page("Honey fair draws crowds", OFF_TOPIC))


def settings_for(tmp_path: Path, site: LocalSite) -> Path:
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site)
        + f'[[feeds]]\nurl = "{site.url("/j/feed.json")}"\n'
        + f'[[feeds]]\nurl = "{site.url("/r/rss.xml")}"\n'
    )
    return settings


def items(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_bad_characters_in_feeds_are_replaced_and_nothing_is_lost(
    site: LocalSite, tmp_path: Path
) -> None:
    serve(site)
    settings = settings_for(tmp_path, site)
    first = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "UnicodeEncodeError" not in first.stderr
    assert "(0 failed)" in first.stdout and "queued 4" in first.stdout, first.stdout

    queued = items(tmp_path)
    assert len(queued) == 4
    for item in queued:
        bad = [s for s in strings(item) if BAD.search(s)]
        assert not bad, (item["url"], bad)
    wire = next(i for i in queued if i["url"].endswith("/j/wire.html"))
    assert wire["summary"] == "Cover\ufffd withdrawn \ufffd for \ufffd]0;owned\ufffd ships"
    story = next(i for i in queued if i["url"].endswith("/r/story.html"))
    assert "\x1b" not in story["title"] and "Aktau" in story["title"]
    assert story["summary"] == "Held \ufffd for eleven \ufffd hours"
    names = {i["source"]["name"] for i in queued}
    assert names == {"The \ufffd Courier\ufffd[2J", "Bell\ufffd \ufffdHerald"}, names

    # both polls were recorded: the feeds show as polled, not "never polled"
    report = json.loads(
        run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
    )
    assert {s["last_status"] for s in report["sources"]} == {200}, report["sources"]
    assert all(s["errors"] == 0 for s in report["sources"])

    # the next pass fetches no page again and delivers nothing twice
    site.clear_log()
    second = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "queued 0" in second.stdout, second.stdout
    fetched = {path.split("?")[0] for path, _ in site.requests()}
    assert fetched <= {"/robots.txt", "/j/feed.json", "/r/rss.xml"}, fetched
    assert len(items(tmp_path)) == 4


def test_queue_ls_and_show_escape_what_they_print(site: LocalSite, tmp_path: Path) -> None:
    """An item another program wrote, with control characters in it, prints as escapes."""
    settings = settings_for(tmp_path, site)
    item = {
        "schema": 1,
        "id": "01J00000000000000000000000",
        "fetched_at": "2026-12-01T10:00:00+00:00",
        "title": "Evil \x1b[2J\x1b]0;title\x07 \x9b31m title \u2028 ok",
        "source": {"name": "Src\x00"},
        "text": "body \x7f",
        "topics": [],
    }
    Queue(tmp_path / "out" / "queue").put(item)
    listing = run_crawler("--settings", str(settings), "queue", "ls", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert not BAD.search(listing.stdout) and "\u2028" not in listing.stdout
    assert "Evil \\x1b[2J\\x1b]0;title\\x07 \\x9b31m title" in listing.stdout
    assert "Src\\x00" in listing.stdout

    shown = run_crawler("--settings", str(settings), "queue", "show", item["id"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert not BAD.search(shown.stdout) and "\u2028" not in shown.stdout
    assert json.loads(shown.stdout)["title"] == item["title"]  # escaped, the same JSON value
    assert json.loads(shown.stdout)["text"] == item["text"]
