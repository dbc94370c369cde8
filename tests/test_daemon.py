"""`crawler run`: a real daemon process against local servers."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, SITE_STORY, WIRE, ago, article_page, rss
from support.runner import run_crawler

TOPIC = 'Caspian AND (drone* OR "artillery shells" OR ammunition OR munitions OR insurers)'


def settings_text(tmp_path: Path, hosts: list[str], feeds: list[str], every: str = "2s") -> str:
    feed_blocks = "".join(f'\n[[feeds]]\nurl = "{url}"\nevery = "{every}"\n' for url in feeds)
    return f"""
[output]
dir = "{tmp_path / "out"}"

[fetch]
allow_hosts = {json.dumps(hosts)}
delay = "0s"
timeout = "2s"
workers = 1

[schedule]
min_every = "1s"
max_every = "3s"
jitter = 0
stop_timeout = "5s"
{feed_blocks}
[[topics]]
name = "caspian"
query = '{TOPIC}'
"""


def queued(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def test_new_entries_land_on_schedule_and_a_restart_repeats_nothing(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    site.route("/a1.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/a2.html", article_page("Honey fair", OFF_TOPIC))
    entries = [
        {"title": "a1", "link": site.url("/a1.html"), "guid": "1", "published": ago(1)},
        {"title": "a2", "link": site.url("/a2.html"), "guid": "2", "published": ago(2)},
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml", headers={"ETag": '"v1"'})
    settings = tmp_path / "crawler.toml"
    settings.write_text(settings_text(tmp_path, [site.host], [site.url("/feed.xml")]))

    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(queued(tmp_path)) == 1, what="the first item")
    # unchanged feed: the next polls are conditional and answered 304
    wait_for(lambda: site.hits("/feed.xml") >= 3, what="more polls")
    conditional = [h for p, h in site.requests() if p == "/feed.xml" and "If-None-Match" in h]
    assert conditional and conditional[-1]["If-None-Match"] == '"v1"'

    # a new entry lands within one interval plus a few seconds
    site.route("/a3.html", article_page("Insurers pull cover", WIRE))
    entries.insert(
        0, {"title": "a3", "link": site.url("/a3.html"), "guid": "3", "published": ago(0)}
    )
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml", headers={"ETag": '"v2"'})
    added = time.monotonic()
    wait_for(lambda: len(queued(tmp_path)) == 2, timeout=15, what="the new entry")
    assert time.monotonic() - added < 3 + 5

    # SIGTERM: exit 0 within the bound
    stopping = time.monotonic()
    assert daemon.stop() == 0, daemon.output()
    assert time.monotonic() - stopping < 5 + 5
    assert "Traceback" not in daemon.output()

    # a restart polls again (validators kept) and queues nothing twice
    site.clear_log()
    again = Daemon(settings, tmp_path)
    daemons.append(again)
    wait_for(lambda: site.hits("/feed.xml") >= 2, what="polls after the restart")
    assert again.stop() == 0
    assert len(queued(tmp_path)) == 2
    assert site.hits("/a1.html") == 0 and site.hits("/a3.html") == 0

    report = json.loads(
        run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
    )
    (feed,) = report["sources"]
    assert feed["health"] == "ok" and feed["last_status"] == 304 and feed["errors"] == 0
    assert report["queue"]["new"] == 2 and report["daemon"]["running"] is False


def test_retry_after_hanging_servers_and_failing_sources(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    with LocalSite("127.0.0.2") as other:
        other.hang("/slow.xml")  # never answers
        site.route("/limited.xml", "busy", status=429, headers={"Retry-After": "3"})
        site.route("/broken.xml", "oops", status=500)
        site.route("/s1.html", article_page("Freighter held at Aktau", SITE_STORY))
        site.route(
            "/good.xml",
            rss(
                "Good",
                [{"title": "s1", "link": site.url("/s1.html"), "guid": "s1", "published": ago(1)}],
            ),
            "application/rss+xml",
        )
        settings = tmp_path / "crawler.toml"
        feeds = [
            other.url("/slow.xml"),
            site.url("/limited.xml"),
            site.url("/broken.xml"),
            site.url("/good.xml"),
        ]
        settings.write_text(settings_text(tmp_path, [site.host, other.host], feeds, every="1s"))
        daemon = Daemon(settings, tmp_path)
        daemons.append(daemon)

        # the hanging server holds up nothing else
        wait_for(lambda: len(queued(tmp_path)) == 1, timeout=15, what="the good feed's item")
        # Retry-After: 3 is honoured although the feed's interval is 1s
        wait_for(lambda: len(site.times("/limited.xml")) >= 3, timeout=20, what="limited polls")
        times = site.times("/limited.xml")
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 2.9, gaps
        # a failing source stays scheduled, backing off, and shows in status
        wait_for(
            lambda: site.hits("/broken.xml") >= 3, timeout=20, what="retries of a failing feed"
        )
        report = json.loads(
            run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
        )
        by_url = {s["url"]: s for s in report["sources"]}
        broken = by_url[site.url("/broken.xml")]
        assert broken["health"] == "failing" and broken["last_error"] == "HTTP 500"
        assert by_url[other.url("/slow.xml")]["errors"] >= 1
        assert report["daemon"]["running"] is True
        assert daemon.stop() == 0
    output = daemon.output()
    assert "source failed source=" + site.url("/broken.xml") in output
    assert "Traceback" not in output


def test_sighup_reloads_settings_and_keeps_old_ones_when_broken(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    site.route("/a1.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route(
        "/one.xml",
        rss(
            "One", [{"title": "a1", "link": site.url("/a1.html"), "guid": "1", "published": ago(1)}]
        ),
        "application/rss+xml",
    )
    site.route("/b1.html", article_page("Insurers pull cover", WIRE))
    site.route(
        "/two.xml",
        rss(
            "Two", [{"title": "b1", "link": site.url("/b1.html"), "guid": "1", "published": ago(1)}]
        ),
        "application/rss+xml",
    )
    settings = tmp_path / "crawler.toml"
    settings.write_text(settings_text(tmp_path, [site.host], [site.url("/one.xml")]))
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(queued(tmp_path)) == 1, what="the first feed's item")

    # a broken file: one clear line, old settings stay in force
    settings.write_text("[fetch\nbroken")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in daemon.output(), what="the refusal")
    before = site.hits("/one.xml")
    wait_for(lambda: site.hits("/one.xml") > before, what="polls under the old settings")

    # a good file with a second feed: it starts polling, without a restart
    settings.write_text(
        settings_text(tmp_path, [site.host], [site.url("/one.xml"), site.url("/two.xml")])
    )
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: len(queued(tmp_path)) == 2, what="the added feed's item")
    assert daemon.stop() == 0
    assert "settings reloaded" in daemon.output()
