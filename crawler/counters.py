"""The crawl's counters, kept in the state database for `crawler serve`'s /metrics (a Scrapy
extension, in EXTENSIONS).

The web app is another process and cannot see the daemon's memory, so every `INTERVAL` seconds
and when the spider closes, the numeric Scrapy stats (polls, pages fetched, items queued, drops
by reason...) and the histogram of extraction times are written as one JSON value under the meta
key `COUNTERS_KEY`. They add up over runs (a pass of `crawler once` adds its counts to those
already saved), so they only ever grow, as Prometheus counters do.

    observe_extraction(crawler.stats, seconds)   # in the extract pipeline
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from twisted.internet.task import LoopingCall

from crawler.errors import StateError
from crawler.state import State

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

log = logging.getLogger("crawler.counters")

COUNTERS_KEY = "counters"
INTERVAL = 10.0  # seconds between snapshots
# Upper bounds (seconds) of the extraction time histogram's buckets; +Inf is implied.
EXTRACT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_EXTRACT = "crawler/extract_seconds"


def observe_extraction(stats: StatsCollector, seconds: float) -> None:
    """Count one extraction that took `seconds` into the histogram's bucket, sum and count."""
    bound = next((b for b in EXTRACT_BUCKETS if seconds <= b), None)
    stats.inc_value(f"{_EXTRACT}/bucket/{'+Inf' if bound is None else bound}")
    stats.inc_value(f"{_EXTRACT}/count")
    stats.inc_value(f"{_EXTRACT}/sum", seconds, start=0)  # type: ignore[arg-type]


def extraction_histogram(counters: dict[str, float]) -> tuple[list[tuple[str, float]], float]:
    """((le, cumulative count) for each bucket and +Inf, sum of seconds) from a snapshot."""
    buckets, total = [], 0.0
    for bound in [*map(str, EXTRACT_BUCKETS), "+Inf"]:
        total += counters.get(f"{_EXTRACT}/bucket/{bound}", 0)
        buckets.append((bound, total))
    return buckets, float(counters.get(f"{_EXTRACT}/sum", 0.0))


def load_counters(value: str | None) -> dict[str, Any]:
    """A snapshot as written by `Counters` ({"at": time, "stats": {...}}), or an empty one."""
    if not value:
        return {"at": None, "stats": {}}
    try:
        data = json.loads(value)
    except ValueError:
        return {"at": None, "stats": {}}
    return (
        data
        if isinstance(data, dict) and isinstance(data.get("stats"), dict)
        else {
            "at": None,
            "stats": {},
        }
    )


class Counters:
    """Writes the numeric stats to the state database now and then."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.task = LoopingCall(self.save)
        self.base: dict[str, float] = {}  # what earlier runs counted

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        extension = cls(crawler)
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def _config(self) -> Any:
        """The settings in force: the spider's (replaced on every reload), else the start-up."""
        spider = getattr(self.crawler, "spider", None)
        return getattr(spider, "config", None) or self.crawler.settings.get("CRAWLER_CONFIG")

    def opened(self) -> None:
        config = self._config()
        if config is not None:
            try:
                with State(config.output.state_path) as state:
                    self.base = load_counters(state.meta(COUNTERS_KEY))["stats"]
            except (StateError, sqlite3.Error) as exc:
                log.warning("counters not read error=%s", exc)
        self.task.start(INTERVAL, now=False)

    def closed(self) -> None:
        if self.task.running:
            self.task.stop()
        self.save()

    def save(self) -> None:
        """One snapshot, through a connection of its own (the spider's may be closed already)."""
        config = self._config()
        if config is None or self.crawler.stats is None:
            return
        numbers = dict(self.base)
        for key, value in self.crawler.stats.get_stats().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                numbers[key] = numbers.get(key, 0) + value
        try:
            with State(config.output.state_path) as state:
                state.set_meta(COUNTERS_KEY, json.dumps({"at": time.time(), "stats": numbers}))
        except (StateError, sqlite3.Error) as exc:  # a full disk: the next snapshot tries again
            log.warning("counters not saved error=%s", exc)
