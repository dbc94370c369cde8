"""The shared frontier: article requests in Redis through scrapy-redis, fetched by any worker.

- `SharedScheduler` is scrapy-redis's scheduler (a priority queue in Redis, requests pickled
  with their meta; callbacks are spider methods, so any worker can run them). Feed and sitemap
  polls and a site's start and section pages are not shared: they come from the worker that
  holds the source's lease and stay in a queue of its own (they are the `dont_filter`
  requests, as retries are).
- `SharedSeenUrlFilter` is crawler's duplicate filter with its in-flight part in Redis: a URL
  decided by any worker is not fetched again, nor one another live worker is fetching now.
- `PacedDownloadHandler` keeps per-host politeness across workers: requests to one host leave
  at least `fetch.delay / fetch.per_domain` apart in the whole cluster, so N workers do not hit
  a host N times as often. Each worker's AutoThrottle still adapts on top of that.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import warnings
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy_redis.scheduler import Scheduler as RedisScheduler

from crawler.dedup import SeenUrlFilter

# scrapy-redis still passes `spider` to the stats collector, which Scrapy 2.13+ deprecates.
warnings.filterwarnings(
    "ignore", message="Passing a 'spider' argument to StatsCollector", category=Warning
)

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.cluster.state import ClusterState

log = logging.getLogger("crawler.cluster")


class SharedScheduler(RedisScheduler):  # type: ignore[misc]
    """Articles through Redis, polls kept here (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local: list[tuple[int, int, Request]] = []
        self._order = itertools.count()
        self._last_warning = -60.0

    def enqueue_request(self, request: Request) -> bool:
        if request.dont_filter:
            heapq.heappush(self._local, (-request.priority, next(self._order), request))
            if self.stats:
                self.stats.inc_value("scheduler/enqueued/local")
            return True
        try:
            return bool(super().enqueue_request(request))
        except RedisError as exc:  # decided nothing: its feed's next poll finds it again
            self._redis_down(exc)
            return False

    def next_request(self) -> Request | None:
        if self._local:
            return heapq.heappop(self._local)[2]
        try:
            request: Request | None = super().next_request()
        except RedisError as exc:
            self._redis_down(exc)
            return None
        return request

    def __len__(self) -> int:
        try:
            shared = len(self.queue)
        except RedisError:
            shared = 0
        return len(self._local) + shared

    def _redis_down(self, exc: RedisError) -> None:
        """One line a minute while Redis cannot be reached, not one per request."""
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            log.warning("frontier unavailable error=%s; polls go on, articles wait", exc)

    def has_pending_requests(self) -> bool:
        return len(self) > 0


class SharedSeenUrlFilter(SeenUrlFilter):
    """`SeenUrlFilter` whose URLs are also claimed in Redis, so no two workers fetch one page at
    a time (a claim lasts `IN_FLIGHT_TTL`, or until its worker is gone)."""

    @classmethod
    def from_spider(cls, spider: Spider) -> Self:  # how scrapy-redis's scheduler makes it
        assert spider.crawler is not None
        return cls.from_crawler(spider.crawler)

    def _claim(self, url: str) -> bool:
        state: ClusterState = self._state  # type: ignore[assignment]
        return state.claim_request(url)

    def forget(self, urls: list[str]) -> None:
        super().forget(urls)
        state: ClusterState = self._state  # type: ignore[assignment]
        state.release_requests(urls)


class PacedDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's http(s) download handler, keeping the cluster-wide minimum gap between requests
    to one host (`fetch.delay / fetch.per_domain`). It waits here, as the request leaves, and
    not in a downloader middleware, because a worker's own download slot may hold a request
    after the middlewares have passed it, and then several leave at once."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        from crawler.cluster import redis_client

        config = crawler.settings["CRAWLER_CONFIG"]
        self.redis = redis_client(config)
        self.prefix = config.cluster.prefix
        gap = config.fetch.delay.total_seconds() / config.fetch.per_domain
        self.gap_ms = int(gap * 1000)

    async def download_request(self, request: Request) -> Response:
        if self.gap_ms > 0:
            key = f"{self.prefix}:pace:{urlsplit(request.url).netloc.lower()}"
            while not self.redis.set(key, "1", nx=True, px=self.gap_ms):
                wait = self.redis.pttl(key)
                await asyncio.sleep(max(int(wait), 1) / 1000)
        response: Response = await super().download_request(request)
        return response
