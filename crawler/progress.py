"""A one-line progress display for `crawler once` on a terminal (a Scrapy extension).

Off when standard error is not a terminal, so cron mail and logs stay clean.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Self, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet.task import LoopingCall

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector


class Progress:
    INTERVAL = 0.5

    def __init__(self, stats: StatsCollector, stream: TextIO) -> None:
        self.stats = stats
        self.stream = stream
        self.task = LoopingCall(self.show)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("CRAWLER_RUN_ONCE") or not sys.stderr.isatty():
            raise NotConfigured
        assert crawler.stats is not None
        progress = cls(crawler.stats, sys.stderr)
        crawler.signals.connect(progress.opened, signal=signals.spider_opened)
        crawler.signals.connect(progress.closed, signal=signals.spider_closed)
        return progress

    def opened(self) -> None:
        self.task.start(self.INTERVAL)

    def closed(self) -> None:
        if self.task.running:
            self.task.stop()
        self.stream.write("\r\033[K")
        self.stream.flush()

    def show(self) -> None:
        def get(key: str) -> int:
            return int(self.stats.get_value(f"crawler/{key}", 0))

        line = (
            f"sources {get('sources_polled') + get('source_errors')}  "
            f"entries {get('entries_seen')}  pages {get('pages_fetched')}  "
            f"queued {get('queued')}  errors {get('source_errors') + get('page_errors')}"
        )
        self.stream.write(f"\r\033[K{line}")
        self.stream.flush()
