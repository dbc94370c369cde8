"""`crawler run`: Scrapy, APScheduler and the state database in one process and one asyncio loop.

The spider stays open for the life of the daemon. APScheduler (AsyncIOScheduler, UTC) holds one
job per source; a job hands the source's requests to the Scrapy engine and returns. When the
poll ends, the spider records it and decides the next poll (crawler/schedule.py) and sends
`source_polled`; the daemon moves the job to that time. Polls therefore resume on schedule after
a restart: the next poll time is data in the state database.

SIGTERM / SIGINT stop scheduling, let in-flight work finish within `schedule.stop_timeout` and
exit 0; worker processes still busy at the timeout are terminated, and what they were doing is
done again after the restart (it was never recorded). SIGHUP re-reads the settings: added
sources and topics start, removed ones stop; a bad file is logged in one line and the old
settings stay in force.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from crawler.alerts.sender import Sender
from crawler.config import Settings, Source, load_settings
from crawler.crawl import scrapy_settings
from crawler.errors import CrawlerError, write_failure
from crawler.output import claim_output
from crawler.signals import housekeeping, settings_reloaded, source_polled
from crawler.state import State

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.cluster.leases import Leases
    from crawler.sources import SourceRef
    from crawler.spider import NewsSpider

log = logging.getLogger("crawler.daemon")

HEARTBEAT_EVERY = 15.0  # seconds between heartbeats in the state database
WATCH_EVERY = 60.0  # seconds between checks for stuck polls
ALERTS_EVERY = 5.0  # seconds between looks at the alert outbox
HOUSEKEEPING_EVERY = 3600.0  # seconds between retention sweeps, at most
HOUSEKEEPING_MIN = 10.0  # ... and at least
MISFIRE_GRACE = 3600  # a job that could not run on time still runs within an hour


def housekeeping_every(config: Settings) -> float:
    """Seconds between retention sweeps: hourly, or a quarter of the shortest `keep`, so that
    nothing outlives its `keep` by much."""
    shortest = min(config.dedup.keep, config.archive.keep).total_seconds()
    return min(HOUSEKEEPING_EVERY, max(HOUSEKEEPING_MIN, shortest / 4))


class Daemon:
    def __init__(self, config: Settings) -> None:
        self.config = config
        self.sources = self._sources(config)
        self.in_flight: dict[str, float] = {}  # source key -> monotonic start of its poll
        self.stopping = asyncio.Event()
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "misfire_grace_time": MISFIRE_GRACE,
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self.crawler: Crawler | None = None
        self.leases: Leases | None = None  # cluster mode: the sources this worker polls
        self._pages = (time.monotonic(), 0)  # for pages per minute in the worker registry

    @staticmethod
    def _sources(config: Settings) -> dict[str, Source]:
        return {s.key: s for s in config.sources}

    @property
    def spider(self) -> NewsSpider:
        assert self.crawler is not None
        return self.crawler.spider  # type: ignore[return-value]

    async def run(self) -> None:
        from scrapy import signals
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.spider import NewsSpider

        runner = AsyncCrawlerRunner(scrapy_settings(self.config, run_once=False))
        self.crawler = crawler = runner.create_crawler(NewsSpider)
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def spider_opened() -> None:
            if not opened.done():
                opened.set_result(None)

        crawler.signals.connect(spider_opened, signal=signals.spider_opened, weak=False)
        crawler.signals.connect(self._polled, signal=source_polled)
        crawling = asyncio.ensure_future(runner.crawl(crawler))
        await asyncio.wait([opened, crawling], return_when=asyncio.FIRST_COMPLETED)
        if crawling.done():
            crawling.result()  # the crawl could not start: raise why
            return
        self._install_signal_handlers()
        if self.config.cluster is not None:
            from crawler.cluster import redis_client
            from crawler.cluster.leases import Leases

            self.leases = Leases(redis_client(self.config), self.config.cluster)
            self.leases.tick(self.sources)
        self._sync_jobs()
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self.scheduler.add_job(self._watch, IntervalTrigger(seconds=WATCH_EVERY), id="~watch")
        beat = HEARTBEAT_EVERY
        if self.config.cluster is not None:
            beat = self.config.cluster.heartbeat.total_seconds()
        self.scheduler.add_job(
            self._guarded(self._heartbeat),
            IntervalTrigger(seconds=beat),
            id="~heartbeat",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self._guarded(self._housekeeping),
            IntervalTrigger(seconds=housekeeping_every(self.config)),
            id="~housekeeping",
        )
        self.sender = Sender(self.config, self.spider.state)
        self.scheduler.add_job(
            self._guarded(self.sender.send_due),
            IntervalTrigger(seconds=ALERTS_EVERY),
            id="~alerts",
        )
        self.scheduler.start()
        log.info(
            "running sources=%d topics=%d pid=%d",
            len(self.sources),
            len(self.config.topics),
            os.getpid(),
        )
        await self.stopping.wait()
        await self._shutdown(crawling)

    # -- jobs ------------------------------------------------------------------------------------

    def _wanted(self) -> set[str]:
        """The sources this process polls: all, or in cluster mode those it holds leases on."""
        if self.leases is None:
            return set(self.sources)
        return self.leases.held & set(self.sources)

    def _sync_jobs(self, *, only_changes: bool = False) -> None:
        """One job per source this process polls; the others lose theirs. `only_changes`
        leaves the jobs that stay as they are (a cluster heartbeat)."""
        wanted = self._wanted()
        for job in self.scheduler.get_jobs():
            if not job.id.startswith("~") and job.id not in wanted:
                job.remove()
                why = "removed" if job.id not in self.sources else "handed over"
                log.info("source %s source=%s", why, job.id)
        for key in sorted(wanted):
            source = self.sources[key]
            trigger = IntervalTrigger(seconds=source.every.total_seconds(), timezone=UTC)
            job = self.scheduler.get_job(key)
            if job is None:
                self.scheduler.add_job(
                    self._guarded(self._poll),
                    trigger,
                    args=[key],
                    id=key,
                    next_run_time=self._first_poll(source),
                )
            elif not only_changes:
                job.reschedule(trigger)
                job.modify(next_run_time=self._first_poll(source))

    def _first_poll(self, source: Source) -> datetime:
        """The stored next poll if any, else soon, spread so sources do not all start at once."""
        row = self.spider.state.source(source.kind, source.key, source.name)
        now = time.time()
        if row.next_poll_at is not None:
            when = max(row.next_poll_at, now)
        else:
            when = now + random.uniform(0, min(source.every.total_seconds(), 60.0) * 0.25)
        return datetime.fromtimestamp(when, UTC)

    async def _poll(self, key: str) -> None:
        source = self.sources.get(key)
        if source is None or self.crawler is None or self.stopping.is_set():
            return
        if self.leases is not None and not self._still_leased(key):
            return
        if key in self.in_flight:
            log.warning(
                "poll still running source=%s started=%.0fs ago",
                key,
                time.monotonic() - self.in_flight[key],
            )
            return
        requests = self.spider.requests_for(source)
        self.in_flight[key] = time.monotonic()
        for request in requests:
            self.crawler.engine.crawl(request)  # type: ignore[union-attr]

    def _still_leased(self, key: str) -> bool:
        """Checked against Redis just before a poll: a lease lost since the last heartbeat
        (this worker stalled; another took the source) means no poll here."""
        assert self.leases is not None
        try:
            if self.leases.holds(key):
                return True
        except self.spider.state.errors as exc:
            log.warning("cluster redis unavailable error=%s; poll postponed source=%s", exc, key)
            return False
        self.leases.held.discard(key)
        self._sync_jobs(only_changes=True)
        return False

    def _polled(self, source: SourceRef, next_poll_at: float) -> None:
        self.in_flight.pop(source.url, None)
        job = self.scheduler.get_job(source.url)
        if job is not None and not self.stopping.is_set():
            job.modify(next_run_time=datetime.fromtimestamp(next_poll_at, UTC))

    def _missed(self, event: JobExecutionEvent) -> None:
        log.warning("schedule missed source=%s at=%s", event.job_id, event.scheduled_run_time)

    async def _watch(self) -> None:
        """Polls stuck far past the request timeout are logged and released."""
        limit = self.config.fetch.timeout.total_seconds() * 3 + 60
        now = time.monotonic()
        for key, started in list(self.in_flight.items()):
            if now - started > limit:
                log.warning("poll stuck source=%s for=%.0fs; released", key, now - started)
                del self.in_flight[key]

    async def _housekeeping(self) -> None:
        assert self.crawler is not None
        self.crawler.signals.send_catch_log(housekeeping)

    async def _heartbeat(self) -> None:
        self.spider.state.set_meta("daemon", f"{os.getpid()} {time.time():.0f}")
        if self.leases is not None and not self.stopping.is_set():
            before = set(self.leases.held)
            held = self.leases.tick(
                self.sources, busy=self.in_flight, pages_per_minute=self._pages_per_minute()
            )
            if held != before:
                self._sync_jobs(only_changes=True)

    def _pages_per_minute(self) -> float:
        assert self.crawler is not None and self.crawler.stats is not None
        pages = int(self.crawler.stats.get_value("crawler/pages_fetched", 0))
        now = time.monotonic()
        since, before = self._pages
        self._pages = (now, pages)
        return (pages - before) * 60.0 / max(now - since, 1e-6)

    def _guarded(self, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        """A scheduler job whose state write fails (a full disk, an I/O error; in cluster mode
        also Redis away) logs one line and runs again at its next time, not a traceback."""
        errors = self.spider.state.errors

        @wraps(job)
        async def run(*args: Any) -> None:
            try:
                await job(*args)
            except errors as exc:
                source = f" source={args[0]}" if args else ""  # a poll's job has its source
                what = job.__name__.strip("_")
                log.error("%s failed%s error=%s", what, source, write_failure(exc))

        return run

    # -- signals ---------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def stop(self, why: str = "stop") -> None:
        if not self.stopping.is_set():
            log.info("stopping (%s): no new polls; finishing in-flight work", why)
            self.stopping.set()

    def reload(self) -> None:
        path = self.config.path
        try:
            config = load_settings(path)
        except CrawlerError as exc:
            log.error("reload refused, old settings kept: %s", exc)
            return
        self.config = config
        self.sources = self._sources(config)
        assert self.crawler is not None
        self.crawler.signals.send_catch_log(settings_reloaded, config=config)
        self.crawler.signals.send_catch_log(housekeeping)  # a shorter `keep` applies at once
        self.sender.reload(config)
        self._sync_jobs()
        self.scheduler.reschedule_job(
            "~housekeeping", trigger=IntervalTrigger(seconds=housekeeping_every(config))
        )
        log.info("settings reloaded sources=%d topics=%d", len(self.sources), len(config.topics))

    async def _shutdown(self, crawling: asyncio.Future[Any]) -> None:
        self.scheduler.shutdown(wait=False)
        bound = self.config.schedule.stop_timeout.total_seconds()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound  # one bound for the whole stop
        assert self.crawler is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.crawler.stop_async()), bound)
            await asyncio.wait_for(crawling, max(deadline - loop.time(), 0.0))
        except TimeoutError:
            # A feed still parsing or a page still extracting is cut short: its poll or page was
            # not recorded, so it is done again after the restart.
            log.warning("stop timeout (%ss) reached: in-flight work abandoned", bound)
            self.spider.workers.terminate()
        if self.leases is not None:
            self.leases.stop()
        try:
            with State(self.config.output.state_path) as state:
                state.set_meta("daemon", None)
        except sqlite3.Error as exc:
            log.warning("stop not recorded in the state database: %s", exc)
        log.info("stopped")


async def run_daemon(config: Settings) -> None:
    if config.cluster is not None:
        from crawler.cluster import redis_client

        redis_client(config)  # an unreachable Redis stops here, naming cluster.redis
    with claim_output(config):
        await Daemon(config).run()


__all__ = ["Daemon", "run_daemon"]
