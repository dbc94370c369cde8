"""Bounded state: seen URLs and entries are forgotten after `dedup.keep`, but never while a
source still lists them, so a feed that keeps an old entry never delivers it again."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from crawler.errors import StateError
from crawler.sources.feeds import entry_digest
from crawler.state import State

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, WIRE, ago, article_page, rss
from support.runner import base_settings, run_crawler

DAY = 86400.0


def _digests(*keys: str) -> set[bytes]:
    return {entry_digest(key) for key in keys}


def test_old_decisions_are_forgotten_unless_still_listed(tmp_path: Path) -> None:
    now = time.time()
    with State(tmp_path / "state.db") as state:
        feed = state.source("feed", "https://example.org/rss")
        other = state.source("feed", "https://example.net/rss")
        state.mark_entries(feed.id, ["kept", "gone"], now - 40 * DAY)
        state.mark_entries(feed.id, ["recent"], now - DAY)
        state.mark_urls(
            ["https://example.org/kept", "https://example.org/gone"], "queued", now - 40 * DAY
        )
        state.mark_urls(["https://example.org/recent"], "queued", now - DAY)
        # the feed still lists "kept"; another source lists the other URL
        state.record_listing(feed.id, "", _digests("kept", "https://example.org/kept"))
        state.record_listing(other.id, "", _digests("https://example.org/gone-but-listed"))
        state.mark_urls(["https://example.org/gone-but-listed"], "queued", now - 40 * DAY)

        gone = state.forget_seen(now - 30 * DAY)

        assert gone["seen_entries"] == 1 and gone["seen_urls"] == 1
        assert state.entry_seen(feed.id, "kept") and state.entry_seen(feed.id, "recent")
        assert not state.entry_seen(feed.id, "gone")
        assert state.url_seen("https://example.org/kept")
        assert state.url_seen("https://example.org/gone-but-listed")
        assert state.url_seen("https://example.org/recent")
        assert not state.url_seen("https://example.org/gone")


def test_a_new_listing_of_a_part_replaces_the_old_one(tmp_path: Path) -> None:
    now = time.time()
    with State(tmp_path / "state.db") as state:
        feed = state.source("feed", "https://example.org/rss")
        state.mark_entries(feed.id, ["a", "b"], now - 40 * DAY)
        state.record_listing(feed.id, "", _digests("a", "b"))
        state.record_listing(feed.id, "", _digests("b"))  # the feed dropped "a"
        state.forget_seen(now - 30 * DAY)
        assert not state.entry_seen(feed.id, "a")
        assert state.entry_seen(feed.id, "b")
        assert state.counts()["listed"] == 1


def _age_everything(db_path: Path, days: float) -> None:
    """Make every decision in the database `days` older, as if that much time had passed."""
    db = sqlite3.connect(db_path)
    shift = days * DAY
    with db:
        for table, column in (
            ("seen_urls", "seen_at"),
            ("seen_entries", "seen_at"),
            ("fingerprints", "seen_at"),
            ("items", "queued_at"),
            ("outbox", "created_at"),
        ):
            db.execute(f"UPDATE {table} SET {column} = {column} - ?", (shift,))
    db.close()


def test_a_feed_that_keeps_an_old_entry_never_delivers_it_again(
    site: LocalSite, tmp_path: Path
) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/b.html", article_page("Insurers pull cover in the Caspian", WIRE))
    site.route("/c.html", article_page("Honey fair", OFF_TOPIC))

    def serve(paths: list[str]) -> None:
        entries = [{"title": p, "link": site.url(p), "guid": p, "published": ago(1)} for p in paths]
        site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")

    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site)
        + 'max_age = "365d"\n'
        + f'[dedup]\nkeep = "30d"\n[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )
    serve(["/a.html", "/b.html"])
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    state_db = tmp_path / "out" / "state.db"
    _age_everything(state_db, 40)

    serve(["/b.html", "/c.html"])  # the feed keeps b (now 40 days old) and drops a
    second = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert second.returncode == 0, second.stderr

    queue = tmp_path / "out" / "queue" / "new"
    titles = sorted(json.loads(p.read_text())["title"] for p in queue.glob("*.json"))
    assert titles == ["Honey fair", "Insurers pull cover in the Caspian", "Ships cross the Caspian"]
    assert site.hits("/b.html") == 1  # never fetched again: still listed
    # forgetting runs as a pass starts: by the next one, a is no longer in the feed's last poll
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert len(list(queue.glob("*.json"))) == 3
    with State(state_db) as state:
        counts = state.counts()
    # a's URL and entry are forgotten (40 days old, no longer listed); b's and c's are kept
    assert counts["seen_urls"] == 2 and counts["seen_entries"] == 2

    status = run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path)
    report = json.loads(status.stdout)["state"]
    assert report["seen_urls"] == 2 and report["database_bytes"] > 0
    text = run_crawler("--settings", str(settings), "status", cwd=tmp_path).stdout
    assert "state database:" in text and "2 seen URLs" in text


@pytest.mark.parametrize("listed", [True, False])
def test_the_cluster_forgets_by_the_same_rule(tmp_path: Path, redis_url: str, listed: bool) -> None:
    import redis

    from crawler.cluster.state import ClusterState
    from crawler.config import ClusterSettings

    cluster = ClusterSettings(redis=redis_url, worker="w1")
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    with ClusterState(tmp_path / "state.db", client, cluster) as state:
        source = state.source("feed", "https://example.org/rss")
        state.mark_entries(source.id, ["old"], now - 40 * DAY)
        state.mark_urls(["https://example.org/old"], "queued", now - 40 * DAY)
        state.mark_urls(["https://example.org/new"], "queued", now)
        if listed:
            state.record_listing(source.id, "", _digests("old", "https://example.org/old"))
        state.forget_seen(now - 30 * DAY)
        assert state.entry_seen(source.id, "old") is listed
        assert state.url_seen("https://example.org/old") is listed
        assert state.url_seen("https://example.org/new")


def test_a_running_daemon_forgets_on_time_with_a_short_keep(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    """Retention sweeps run at a quarter of the shortest `keep` (here every 10 s, the least),
    not only hourly: a running daemon's state stays bounded by its `keep`."""
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/b.html", article_page("Insurers pull cover in the Caspian", WIRE))

    def serve(path: str) -> None:
        entries = [{"title": path, "link": site.url(path), "guid": path, "published": ago(1)}]
        site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")

    def seen() -> set[str]:
        try:
            with State(tmp_path / "out" / "state.db", readonly=True) as state:
                return {p for p in ("/a.html", "/b.html") if state.url_seen(site.url(p))}
        except StateError:  # not created yet
            return set()

    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site)
        + '[schedule]\nmin_every = "1s"\njitter = 0\n[dedup]\nkeep = "5s"\n'
        + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\nevery = "1s"\n'
    )
    serve("/a.html")
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: "/a.html" in seen(), what="a seen")
    serve("/b.html")  # the feed moves on: a is older than keep and no longer listed
    wait_for(lambda: seen() == {"/b.html"}, timeout=40, what="a forgotten, b kept")
    assert site.hits("/a.html") == 1 and site.hits("/b.html") == 1
    assert daemon.stop() == 0
