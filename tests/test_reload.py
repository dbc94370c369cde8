"""SIGHUP: the settings read again are the ones in force, in every component of a real daemon."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, SITE_STORY, WIRE, ago, article_page, rss
from support.runner import base_settings

DAY = 86400


def settings_text(tmp_path: Path, site: LocalSite, *, keep: str, near: float) -> str:
    return (
        base_settings(tmp_path, site)
        + f"""timeout = "5s"
[schedule]
min_every = "1s"
max_every = "2s"
jitter = 0
[dedup]
near_threshold = {near}
keep = "{keep}"
[archive]
keep = "{keep}"
[[feeds]]
url = "{site.url("/feed.xml")}"
every = "1s"
"""
    )


def queued(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def state(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "out" / "state.db", timeout=30)


def count(tmp_path: Path, table: str) -> int:
    with state(tmp_path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_reload_applies_new_archive_and_dedup_settings(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    # two stories that share about two thirds of their text: a near-duplicate at 0.5, not at 0.9
    pages = {
        "/x1.html": article_page("Ships cross the Caspian", CASPIAN),
        "/x2.html": article_page("Ships cross the sea", CASPIAN[:3] + WIRE[:1]),
        "/y1.html": article_page("Customs hold a freighter", SITE_STORY),
        "/y2.html": article_page("A freighter is held", SITE_STORY[:3] + OFF_TOPIC[:1]),
    }
    for path, page in pages.items():
        site.route(path, page)

    def serve(paths: list[str]) -> None:
        entries = [{"title": p, "link": site.url(p), "guid": p, "published": ago(1)} for p in paths]
        site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")

    serve(["/x1.html", "/x2.html"])
    settings = tmp_path / "crawler.toml"
    settings.write_text(settings_text(tmp_path, site, keep="7d", near=0.9))
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(queued(tmp_path)) == 2, what="both stories at near_threshold 0.9")
    assert count(tmp_path, "archive") == 2 and count(tmp_path, "signatures") == 2

    # the articles were archived, their signatures kept, two days ago: within the old keep (7d)
    with state(tmp_path) as db:
        db.execute("UPDATE archive SET fetched_at = fetched_at - ?", (2 * DAY,))
        db.execute("UPDATE signatures SET seen_at = seen_at - ?", (2 * DAY,))

    settings.write_text(settings_text(tmp_path, site, keep="1d", near=0.5))
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "settings reloaded" in daemon.output(), what="the reload")
    # past the new archive.keep and dedup.keep: purged by the reload's housekeeping
    wait_for(lambda: count(tmp_path, "archive") == 0, what="the archive purged")
    wait_for(lambda: count(tmp_path, "signatures") == 0, what="the signatures purged")

    # the new near_threshold decides: of the next two close stories only one is queued
    serve(["/y1.html", "/y2.html"])
    wait_for(lambda: site.hits("/y1.html") and site.hits("/y2.html"), what="the new stories")

    def outcomes() -> dict[str, str]:
        with state(tmp_path) as db:
            rows = db.execute("SELECT url, outcome FROM seen_urls").fetchall()
        return {url.rsplit("/", 1)[-1]: outcome for url, outcome in rows}

    wait_for(lambda: {"y1.html", "y2.html"} <= outcomes().keys(), what="both decided")
    assert sorted(outcomes()[p] for p in ("y1.html", "y2.html")) == ["near-duplicate", "queued"]
    assert len(queued(tmp_path)) == 3
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.output()
