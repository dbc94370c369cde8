"""Running the spider: our settings turned into Scrapy's, one pass over every source, and the
asyncio reactor every command runs in.

All Scrapy settings crawler uses are decided in `scrapy_settings`, in one place.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from crawler.alerts.sender import Sender
from crawler.cluster import open_state
from crawler.config import Settings
from crawler.output import claim_output
from crawler.trail import DUPLICATE_OUTCOMES

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
T = TypeVar("T")


def scrapy_settings(config: Settings, *, run_once: bool = True) -> dict[str, Any]:
    settings = _scrapy_settings(config, run_once=run_once)
    if config.cluster is not None:
        settings.update(_cluster_settings(config, settings))
    return settings


def _cluster_settings(config: Settings, base: dict[str, Any]) -> dict[str, Any]:
    """Cluster mode: article requests through scrapy-redis's scheduler (crawler/cluster/)."""
    assert config.cluster is not None
    prefix = config.cluster.prefix
    return {
        "SCHEDULER": "crawler.cluster.frontier.SharedScheduler",
        "SCHEDULER_PERSIST": True,  # the frontier outlives any one worker
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        "SCHEDULER_QUEUE_KEY": f"{prefix}:frontier",
        "DUPEFILTER_CLASS": "crawler.cluster.frontier.SharedSeenUrlFilter",
        "REDIS_URL": config.cluster.redis,
        "DOWNLOAD_HANDLERS": {
            **base["DOWNLOAD_HANDLERS"],
            "http": "crawler.cluster.frontier.PacedDownloadHandler",
            "https": "crawler.cluster.frontier.PacedDownloadHandler",
        },
    }


# Scrapy's parts that crawler does without: its own counters, stop and progress replace the
# extensions, the telnet console and remote control would be doors into the daemon, and a
# news crawl keeps no cookies, credentials or HTTP cache.
UNUSED_EXTENSIONS = frozenset(
    f"scrapy.extensions.{name}"
    for name in (
        "telnet.TelnetConsole",
        "memusage.MemoryUsage",
        "memdebug.MemoryDebugger",
        "closespider.CloseSpider",
        "feedexport.FeedExporter",
        "logstats.LogStats",
        "spiderstate.SpiderState",
        "remote_control.RemoteControl",
    )
)
UNUSED_DOWNLOADER_MIDDLEWARES = frozenset(
    f"scrapy.downloadermiddlewares.{name}"
    for name in (
        "cookies.CookiesMiddleware",
        "httpauth.HttpAuthMiddleware",
        "httpcache.HttpCacheMiddleware",
    )
)


def _without(base: dict[str, int], unused: frozenset[str]) -> dict[str, int]:
    return {path: order for path, order in base.items() if path not in unused}


def _scrapy_settings(config: Settings, *, run_once: bool) -> dict[str, Any]:
    from scrapy.settings import default_settings as defaults

    fetch = config.fetch
    return {
        "BOT_NAME": "crawler",
        "TWISTED_REACTOR": ASYNCIO_REACTOR,
        "USER_AGENT": fetch.user_agent,
        "ROBOTSTXT_OBEY": fetch.obey_robots,
        "ROBOTSTXT_USER_AGENT": fetch.user_agent,
        "CONCURRENT_REQUESTS": fetch.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": fetch.per_domain,
        # A response yields at most one item; Scrapy starts this many tasks per response.
        "CONCURRENT_ITEMS": 4,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": fetch.delay.total_seconds(),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(fetch.per_domain),
        "DOWNLOAD_TIMEOUT": fetch.timeout.total_seconds(),
        "DOWNLOAD_MAXSIZE": fetch.max_page_size,
        "DOWNLOAD_WARNSIZE": 0,
        # Only http and https: no file:, data:, s3: or ftp: handler exists to be tricked into.
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
        # Scrapy accepts any certificate unless told otherwise; we check it and the host name.
        "DOWNLOAD_VERIFY_CERTIFICATES": fetch.verify_certificates,
        "REDIRECT_MAX_TIMES": 5,
        "METAREFRESH_MAXDELAY": 10,
        "RETRY_TIMES": 1,
        "DUPEFILTER_CLASS": "crawler.dedup.SeenUrlFilter",
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.middlewares.UrlGuardMiddleware": 50,
            "crawler.middlewares.ConditionalGetMiddleware": 560,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawler.middlewares.RobotsPolicyMiddleware": 100,
        },
        # Scrapy imports every component its _BASE tables name, even one set to None: the
        # parts crawler never uses are left out of them (cookies bring tldextract and requests,
        # the remote control aiohttp: about 10 MiB of the daemon's memory).
        "DOWNLOADER_MIDDLEWARES_BASE": _without(
            defaults.DOWNLOADER_MIDDLEWARES_BASE, UNUSED_DOWNLOADER_MIDDLEWARES
        ),
        "EXTENSIONS_BASE": _without(defaults.EXTENSIONS_BASE, UNUSED_EXTENSIONS),
        "ITEM_PIPELINES": {
            "crawler.pipelines.ExtractPipeline": 100,
            "crawler.pipelines.DedupPipeline": 200,
            "crawler.pipelines.TopicPipeline": 300,
            "crawler.pipelines.QueuePipeline": 400,
        },
        "EXTENSIONS": {
            "crawler.progress.Progress": 500,
            "crawler.middlewares.AddressGuard": 100,
            "crawler.counters.Counters": 510,
        },
        "CRAWLER_CONFIG": config,
        "CRAWLER_ALLOW_HOSTS": fetch.allow_hosts,
        "CRAWLER_RUN_ONCE": run_once,
    }


@dataclass(frozen=True, slots=True)
class PassSummary:
    """What one pass over every source did; `crawler once` prints it."""

    sources: int
    sources_failed: int
    entries_seen: int
    pages_fetched: int
    matched: int
    duplicates: int
    queued: int
    errors: int
    alerts_sent: int
    dropped: dict[str, int] = field(default_factory=dict)  # pages not queued, by reason

    @classmethod
    def from_stats(cls, stats: dict[str, Any], alerts_sent: int = 0) -> PassSummary:
        def get(key: str) -> int:
            return int(stats.get(f"crawler/{key}", 0))

        return cls(
            sources=get("sources_polled") + get("source_errors"),
            sources_failed=get("source_errors"),
            entries_seen=get("entries_seen"),
            pages_fetched=get("pages_fetched"),
            matched=get("matched"),
            duplicates=sum(get(f"rejected/{o}") for o in DUPLICATE_OUTCOMES),
            queued=get("queued"),
            errors=get("source_errors") + get("page_errors") + get("queue_errors"),
            alerts_sent=alerts_sent,
            dropped=dropped_counts(stats),
        )

    def __str__(self) -> str:
        return (
            f"sources polled {self.sources} ({self.sources_failed} failed), "
            f"entries seen {self.entries_seen}, pages fetched {self.pages_fetched}, "
            f"duplicates {self.duplicates}, matched {self.matched}, queued {self.queued}, "
            f"errors {self.errors}, "
            f"alert messages {self.alerts_sent}"
            + (f"; dropped: {format_counts(self.dropped)}" if self.dropped else "")
        )


def dropped_counts(stats: dict[str, Any]) -> dict[str, int]:
    """The pages a crawl dropped, by reason (`crawler/dropped/<reason>`, see crawler/trail.py),
    most first."""
    prefix = "crawler/dropped/"
    counts = {k[len(prefix) :]: int(v) for k, v in stats.items() if k.startswith(prefix)}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def format_counts(counts: dict[str, int]) -> str:
    """`too-old 3, off-topic 2`."""
    return ", ".join(f"{reason} {n}" for reason, n in counts.items())


async def crawl_once(config: Settings) -> PassSummary:
    """One pass over every source of `config`; returns when every request has been handled."""
    stats, alerts_sent = await run_pass(config)
    return PassSummary.from_stats(stats, alerts_sent)


async def run_pass(
    config: Settings, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], int]:
    """Run the spider once (with Scrapy settings `overrides`, e.g. `crawler deliver`'s), then
    send the alerts due; returns the crawl's stats and the number of alert emails sent."""
    from scrapy.crawler import AsyncCrawlerRunner

    from crawler.spider import NewsSpider

    if config.cluster is not None:
        from crawler.cluster import redis_client

        redis_client(config)  # an unreachable Redis stops here, naming cluster.redis
    with claim_output(config):
        runner = AsyncCrawlerRunner(scrapy_settings(config, run_once=True) | (overrides or {}))
        crawler = runner.create_crawler(NewsSpider)
        with _stop_on_signals(crawler):
            await runner.crawl(crawler)
        with open_state(config) as state:
            alerts_sent = await Sender(config, state).send_due()
    assert crawler.stats is not None
    return crawler.stats.get_stats(), alerts_sent


@contextmanager
def _stop_on_signals(crawler: Any) -> Iterator[None]:
    """Ctrl-C or SIGTERM during a pass: stop fetching, keep what was decided."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Future[None]] = []

    def stop() -> None:
        if not stopping:
            stopping.append(asyncio.ensure_future(crawler.stop_async()))

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop)
    try:
        yield
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


def run_in_reactor(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function inside Twisted's asyncio reactor (as Scrapy needs) and return
    its result. The reactor is installed on first use; a process runs it once."""
    from scrapy.utils.reactor import install_reactor

    install_reactor(ASYNCIO_REACTOR)
    from twisted.internet import reactor as installed

    reactor: Any = installed

    outcome: dict[str, Any] = {}

    async def wrapper() -> None:
        try:
            outcome["value"] = await main()
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: asyncio.ensure_future(wrapper()))
    reactor.run(installSignalHandlers=False)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
