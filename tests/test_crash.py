"""Exactly once across crashes: the daemon killed with SIGKILL at random moments, restarted
until it is quiet, delivers every expected item once, in valid files, with a sound database."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from pathlib import Path

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import ago, article_page, rss
from support.runner import base_settings

ARTICLES = 200
FEEDS = 10


def _body(n: int) -> list[str]:
    """A distinct story per article, long enough to be one, sharing no sentence with another."""
    words = [f"w{n}x{k}" for k in range(120)]
    return [" ".join(words[i : i + 30]) + "." for i in range(0, 120, 30)]


def _serve(site: LocalSite) -> None:
    per_feed = ARTICLES // FEEDS
    for f in range(FEEDS):
        entries = []
        for n in range(f * per_feed, (f + 1) * per_feed):
            path = f"/a/{n}.html"
            site.route(path, article_page(f"Story {n}", _body(n)))
            entries.append(
                {"title": f"Story {n}", "link": site.url(path), "guid": str(n), "published": ago(1)}
            )
        site.route(f"/feed/{f}.xml", rss(f"Feed {f}", entries), "application/rss+xml")


def _delivered(out: Path) -> list[dict]:
    files = [*(out / "queue" / "new").glob("*.json"), *(out / "queue" / "cur").glob("*.json")]
    return [json.loads(p.read_text("utf-8")) for p in files]  # every file must be valid JSON


def test_kill_9_at_random_moments_delivers_each_item_exactly_once(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    _serve(site)
    settings = tmp_path / "crawler.toml"
    feeds = "".join(
        f'[[feeds]]\nurl = "{site.url(f"/feed/{f}.xml")}"\nevery = "2s"\n' for f in range(FEEDS)
    )
    settings.write_text(
        base_settings(tmp_path, site)
        + 'per_domain = 8\n[schedule]\nmin_every = "1s"\nmax_every = "2s"\n'
        + feeds
    )
    out = tmp_path / "out"
    site.server.delay = 0.1  # so that kills land in the middle of the work
    rng = random.Random(20261125)
    progress = []
    for _ in range(6):  # kill -9 after a random time, several times over
        daemon = Daemon(settings, tmp_path)
        daemons.append(daemon)
        time.sleep(rng.uniform(1.5, 3.5))
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(10)
        progress.append(len(_delivered(out)))
    assert progress[0] < ARTICLES, progress  # the kills did land mid-run
    final = Daemon(settings, tmp_path)  # restart until quiet
    daemons.append(final)
    wait_for(lambda: len(_delivered(out)) >= ARTICLES, timeout=90, what="every article")
    time.sleep(3)  # more polls: nothing more may arrive
    assert final.stop() == 0
    print(f"delivered after each kill: {progress}")
    items = _delivered(out)
    titles = sorted(item["title"] for item in items)
    assert titles == sorted(f"Story {n}" for n in range(ARTICLES))  # each once
    assert len({item["id"] for item in items}) == ARTICLES
    db = sqlite3.connect(out / "state.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == ARTICLES
    assert list((out / "queue" / "tmp").iterdir()) == []


def test_sigterm_under_load_stops_within_the_bound_and_loses_nothing(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    _serve(site)
    site.server.delay = 0.1
    settings = tmp_path / "crawler.toml"
    feeds = "".join(
        f'[[feeds]]\nurl = "{site.url(f"/feed/{f}.xml")}"\nevery = "2s"\n' for f in range(FEEDS)
    )
    settings.write_text(
        base_settings(tmp_path, site)
        + 'per_domain = 8\n[schedule]\nmin_every = "1s"\nmax_every = "2s"\n'
        + 'stop_timeout = "5s"\n'
        + feeds
    )
    out = tmp_path / "out"
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(_delivered(out)) >= 20, what="the first items")
    stopping = time.monotonic()
    assert daemon.stop() == 0, daemon.output()
    assert time.monotonic() - stopping < 5 + 5
    assert len(_delivered(out)) < ARTICLES  # it really was stopped in the middle
    again = Daemon(settings, tmp_path)
    daemons.append(again)
    wait_for(lambda: len(_delivered(out)) >= ARTICLES, timeout=90, what="every article")
    assert again.stop() == 0
    titles = sorted(item["title"] for item in _delivered(out))
    assert titles == sorted(f"Story {n}" for n in range(ARTICLES))
