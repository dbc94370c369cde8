"""A disk that fills up under a running daemon: nothing is marked seen that was not delivered,
the daemon stays up, and once there is room again every item lands exactly once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_daemon import queued, settings_text

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, SITE_STORY, WIRE, ago, article_page, rss

SUPPORT = Path(__file__).parent / "support"


@pytest.mark.parametrize("what", ["files", "database"])
def test_a_full_disk_loses_nothing_and_the_daemon_carries_on(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon], what: str
) -> None:
    site.route("/feed.xml", rss("Feed", []), "application/rss+xml", headers={"ETag": '"v0"'})
    settings = tmp_path / "crawler.toml"
    settings.write_text(settings_text(tmp_path, [site.host], [site.url("/feed.xml")]))
    full = tmp_path / "disk-is-full"
    daemon = Daemon(settings, tmp_path, launcher=[str(SUPPORT / "diskfull.py"), str(full)])
    daemons.append(daemon)
    wait_for(lambda: site.hits("/feed.xml") >= 1, what="the first poll")

    full.write_text(what)
    stories = {
        "/a1.html": ("Ships cross the Caspian", CASPIAN),
        "/a2.html": ("Freighter held at Aktau", SITE_STORY),
        "/a3.html": ("Insurers pull cover", WIRE),
    }
    for path, (title, body) in stories.items():
        site.route(path, article_page(title, body))
    entries = [
        {"title": title, "link": site.url(path), "guid": path, "published": ago(1)}
        for path, (title, _) in stories.items()
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml", headers={"ETag": '"v1"'})
    if what == "files":  # each page is fetched, not delivered, and fetched again
        wait_for(lambda: daemon.output().count("ERROR crawler.pipelines: page not delivered") >= 6)
        assert all(site.hits(path) >= 2 for path in stories)
    else:  # no poll can be recorded, so none counts: each fails and is tried again
        wait_for(lambda: daemon.output().count("state database: database or disk is full") >= 3)
    assert queued(tmp_path) == []
    assert list((tmp_path / "out" / "queue" / "tmp").iterdir()) == []
    assert daemon.process.poll() is None, daemon.output()
    assert "Traceback" not in daemon.output()

    full.unlink()
    wait_for(lambda: len(queued(tmp_path)) == 3, what="every item, once there is room")
    polls = site.hits("/feed.xml")
    wait_for(lambda: site.hits("/feed.xml") >= polls + 3, what="more polls")
    assert daemon.stop() == 0, daemon.output()

    items = queued(tmp_path)
    assert sorted(item["title"] for item in items) == sorted(t for t, _ in stories.values())
    with sqlite3.connect(tmp_path / "out" / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM items").fetchone() == (3,)
    for path in (tmp_path / "out" / "queue" / "new").glob("*.json"):
        json.loads(path.read_text("utf-8"))
