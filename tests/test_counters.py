"""The daemon keeps its counters in the state database while it runs, for `crawler serve`'s
/metrics (the web app is another process and cannot see the daemon's memory)."""

from __future__ import annotations

from crawler.counters import COUNTERS_KEY, extraction_histogram, load_counters
from crawler.errors import StateError
from crawler.state import State

from support.daemonproc import Daemon, wait_for
from support.pages import ago, article_page, rss
from support.runner import base_settings

BODY = [" ".join(["Caspian ports handled more grain than in any month before."] * 4)] * 4


def test_a_running_daemon_saves_its_counters(tmp_path, site) -> None:
    site.route("/a.html", article_page("Grain through the Caspian", BODY))
    feed = rss("Wire", [{"title": "Grain", "link": site.url("/a.html"), "published": ago(1)}])
    site.route("/rss.xml", feed, "application/rss+xml")
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site) + f'[[feeds]]\nurl = "{site.url("/rss.xml")}"\n'
    )
    state_path = tmp_path / "out" / "state.db"

    def saved() -> dict:
        try:
            with State(state_path, readonly=True) as state:
                stats = load_counters(state.meta(COUNTERS_KEY))["stats"]
        except StateError:  # not there yet, or still being created by the daemon
            return {}
        return stats if stats.get("crawler/queued") else {}

    daemon = Daemon(settings, tmp_path)
    try:
        stats = wait_for(saved, timeout=40, what="the counters in the state database")
        assert daemon.process.poll() is None  # saved while running, not only at the end
    finally:
        assert daemon.stop() == 0, daemon.output()
    assert stats["crawler/pages_fetched"] >= 1 and stats["crawler/sources_polled"] >= 1
    buckets, seconds = extraction_histogram(stats)
    assert buckets[-1] == ("+Inf", stats["crawler/extract_seconds/count"]) and seconds > 0
    before = saved()["crawler/queued"]

    def saved_at() -> float:
        with State(state_path, readonly=True) as state:
            return load_counters(state.meta(COUNTERS_KEY))["at"] or 0.0

    first_run = saved_at()
    daemon = Daemon(settings, tmp_path)  # a second run adds to what the first counted
    try:
        wait_for(lambda: saved_at() > first_run, timeout=40, what="a save by the second run")
    finally:
        assert daemon.stop() == 0
    assert saved()["crawler/queued"] == before  # nothing new, and nothing forgotten
