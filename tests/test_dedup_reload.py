"""A reload of the `[dedup]` section takes effect in a running daemon."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

from support.bulletins import bulletin_families, wire_copies
from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import ago, article_page, rss


def _settings(tmp_path: Path, site: LocalSite, dedup: str = "") -> str:
    return f"""
[output]
dir = "{tmp_path / "out"}"
[fetch]
allow_hosts = ["{site.host}"]
delay = "0s"
workers = 1
[schedule]
min_every = "1s"
max_every = "2s"
jitter = 0
stop_timeout = "5s"
{dedup}
[[feeds]]
url = "{site.url("/feed.xml")}"
every = "1s"
"""


def _feed(site: LocalSite, paths: list[str]) -> None:
    entries = [{"title": p, "link": site.url(p), "guid": p, "published": ago(1)} for p in paths]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")


def _queued(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in new.glob("*.json")]


def test_a_new_near_threshold_rebuilds_the_index(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    bulletin = bulletin_families(random.Random(5), per_family=1)["weather warning"][0]
    copies = dict(wire_copies(bulletin, random.Random(5)))
    site.route("/original.html", article_page(bulletin.title, bulletin.text.split("\n")))
    credited = copies["credit line"]
    site.route("/credited.html", article_page(credited.title, credited.text.split("\n")))
    cut = copies["last paragraph cut"]
    site.route("/cut.html", article_page(cut.title, cut.text.split("\n")))
    _feed(site, ["/original.html", "/credited.html"])
    settings = tmp_path / "crawler.toml"
    settings.write_text(_settings(tmp_path, site))
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: site.hits("/credited.html") == 1, what="the credited copy")
    wait_for(lambda: len(_queued(tmp_path)) == 1, what="one item for two copies")

    # at 0.95 a copy without its last paragraph is no longer near enough: a new item
    settings.write_text(_settings(tmp_path, site, "[dedup]\nnear_threshold = 0.95\n"))
    daemon.signal(signal.SIGHUP)
    wait_for(
        lambda: "near-duplicate index rebuilt threshold=0.95" in daemon.output(),
        what="the rebuilt index",
    )
    _feed(site, ["/original.html", "/credited.html", "/cut.html"])
    wait_for(lambda: len(_queued(tmp_path)) == 2, what="the cut copy as an item")
    assert daemon.stop() == 0
