"""SIGTERM while a worker process is busy: the daemon exits within `schedule.stop_timeout`, and
what the worker was doing is done again after the restart."""

from __future__ import annotations

import email.utils
import json
import signal
import sqlite3
import time
from pathlib import Path

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, WIRE, ago, article_page
from support.runner import base_settings

PADDING = 15_000  # old entries, enough to keep feedparser busy for seconds


def big_feed(site: LocalSite) -> bytes:
    new = "".join(
        f"<item><title>Story {i}</title><link>{site.url(f'/a{i}.html')}</link>"
        f"<guid isPermaLink='false'>new-{i}</guid>"
        f"<pubDate>{email.utils.format_datetime(ago(1), usegmt=True)}</pubDate></item>"
        for i in range(3)
    )
    old_date = email.utils.format_datetime(ago(24 * 30), usegmt=True)
    old = "".join(
        f"<item><title>Old story {i}</title><link>{site.url(f'/old/{i}.html')}</link>"
        f"<guid isPermaLink='false'>old-{i}</guid><pubDate>{old_date}</pubDate>"
        f"<description>An old story &lt;b&gt;of the archive&lt;/b&gt;, number {i}</description>"
        "</item>"
        for i in range(PADDING)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Big</title><link>{site.url('/')}</link>{new}{old}</channel></rss>"
    ).encode()


def queued(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def seen_entries(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "out" / "state.db", timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM seen_entries").fetchone()[0])


def test_sigterm_during_a_long_parse_exits_within_the_timeout(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    for i, text in enumerate((CASPIAN, WIRE, OFF_TOPIC)):
        site.route(f"/a{i}.html", article_page(f"Story {i}", text))
    site.route("/feed.xml", big_feed(site), "application/rss+xml")
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site)
        + f'max_page_size = "20MB"\ntimeout = "60s"\nmax_entries = {PADDING + 3}\n'
        + '[schedule]\nmin_every = "1s"\nmax_every = "5s"\njitter = 0\nstop_timeout = "1s"\n'
        + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\nevery = "1s"\n'
    )
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: site.hits("/feed.xml"), what="the feed fetched")
    time.sleep(0.5)  # the body is in a worker process now, being parsed
    stopping = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.process.wait(30)
    took = time.monotonic() - stopping
    output = daemon.output()
    assert code == 0, output
    assert took < 1 + 4, (took, output)
    assert "stop timeout (1.0s) reached" in output, output
    assert "Traceback" not in output, output
    # the poll was cut short: nothing of it was recorded
    assert seen_entries(tmp_path) == 0 and queued(tmp_path) == []
    daemon.stop()

    again = Daemon(settings, tmp_path)
    daemons.append(again)
    wait_for(lambda: len(queued(tmp_path)) == 3, timeout=180, what="the three stories")
    assert again.stop() == 0
    assert sorted(item["title"] for item in queued(tmp_path)) == ["Story 0", "Story 1", "Story 2"]
    assert seen_entries(tmp_path) == PADDING + 3
