"""The one long-lived spider. Every request goes through it, so robots.txt, politeness, retries,
size limits and the user agent apply to feeds and pages alike.

Sources hand it requests (`feed_request`, `site_requests`); its callbacks turn a feed into
article requests, a section page into article requests, and an article page into a `Page` item
for the pipelines. It decides nothing about content: extraction, dedup and topics are pipelines.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler import schedule, trail
from crawler.cluster import open_state
from crawler.config import FeedSource, Settings, SitemapSource, SiteSource, Source
from crawler.dedup import normalize_url
from crawler.errors import WorkerExited, write_failure
from crawler.items import Page
from crawler.middlewares import RefusedRequest, error_text
from crawler.signals import settings_reloaded, source_polled
from crawler.sources import SourceKind, SourceRef
from crawler.sources.feeds import FeedEntry, FeedError, entry_digest, new_entries
from crawler.sources.sitemaps import SitemapError, parse_sitemap, robots_sitemaps
from crawler.state import State
from crawler.workers import Workers, shared_workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = logging.getLogger("crawler.spider")

# An article that answered with one of these is gone for good: remember it, never ask again.
PERMANENT_STATUSES = frozenset({401, 403, 404, 410, 451})
# A feed that answers with one of these asks us to come back later (Retry-After).
RATE_LIMITED = frozenset({429, 503})


def _poll_callback(
    callback: Callable[[NewsSpider, Response], Any],
) -> Callable[[NewsSpider, Response], Any]:
    """A poll whose state database write fails (a full disk, an I/O error) is a failed poll:
    one error line, nothing marked seen, and the source polled again after its interval."""

    @wraps(callback)
    async def guarded(spider: NewsSpider, response: Response) -> list[scrapy.Request]:
        try:
            result = callback(spider, response)
            return list(await result if inspect.isawaitable(result) else result)
        except spider.state.errors as exc:
            spider._poll_not_recorded(response.meta["source"], exc)
            return []

    return guarded


# Feed entries looked up in the state database at a time.
ENTRY_BATCH = 500
# Sitemap indexes nest: robots.txt -> index -> index -> urlset at most.
MAX_SITEMAP_LEVELS = 3


class NewsSpider(scrapy.Spider):
    name = "crawler"

    config: Settings
    state: State
    workers: Workers  # processes for feed parsing and extraction
    _site_pass: dict[str, SitePass]
    run_once: bool  # a pass over every source (crawler once), or the daemon's open spider

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.config = crawler.settings["CRAWLER_CONFIG"]
        spider.state = open_state(spider.config)
        spider.workers = shared_workers(spider.config.fetch.extraction_workers)
        spider._index_sources()
        spider._site_pass = {}
        spider.run_once = bool(crawler.settings.getbool("CRAWLER_RUN_ONCE", True))
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        crawler.signals.connect(spider._reloaded, signal=settings_reloaded)
        if not spider.run_once:
            crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        return spider

    def _closed(self) -> None:
        self.state.close()

    def _idle(self) -> None:
        raise DontCloseSpider  # the daemon's spider stays open between polls

    def _reloaded(self, config: Settings) -> None:
        self.config = config
        self._index_sources()

    def _index_sources(self) -> None:
        self._every = {s.key: s.every for s in self.config.sources}

    def _count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"crawler/{key}", n)  # type: ignore[union-attr]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not self.run_once:
            return  # the daemon's scheduler hands requests to the engine itself
        if url := self.crawler.settings.get("CRAWLER_DELIVER_URL"):
            yield self.deliver_request(url)  # `crawler deliver`: that page only
            return
        for source in self.config.sources:
            for request in self.requests_for(source):
                yield request

    def requests_for(self, source: Source) -> list[scrapy.Request]:
        """The requests that poll one source."""
        if isinstance(source, FeedSource):
            return [self.feed_request(source)]
        if isinstance(source, SitemapSource):
            return [self.sitemap_request(source)]
        return list(self.site_requests(source))

    # -- feeds -----------------------------------------------------------------------------------

    def feed_request(self, feed: FeedSource) -> scrapy.Request:
        row = self.state.source("feed", feed.url, feed.name)
        source = SourceRef("feed", feed.url, feed.name or row.name, row.id)
        return self._poll_request(
            feed.url, self.parse_feed, source, validators=(row.etag, row.last_modified)
        )

    def _poll_request(
        self,
        url: str,
        callback: Callable[[Response], Any],
        source: SourceRef,
        validators: tuple[str | None, str | None] = (None, None),
        **meta: Any,
    ) -> scrapy.Request:
        """A conditional poll of a feed or sitemap: ahead of article pages, never filtered as
        seen, and not retried by Scrapy (the schedule retries a failed poll, with back-off)."""
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.source_failed,
            dont_filter=True,
            priority=10,
            meta={
                "source": source,
                "validators": validators,
                "handle_httpstatus_list": [304, *RATE_LIMITED],
                "dont_retry": True,
                **meta,
            },
        )

    # Callbacks return lists, not generators: Scrapy inspects the source of every generator
    # callback it calls, which costs more than a poll that answers 304.

    def _answered_without_content(self, response: Response) -> bool:
        """Handle a poll answered 429/503 (come back later) or 304 (unchanged); True if so."""
        source: SourceRef = response.meta["source"]
        if response.status in RATE_LIMITED:
            retry_after = schedule.retry_after(_header(response, "Retry-After"), datetime.now(UTC))
            self._source_error(source, response.status, f"HTTP {response.status}", retry_after)
            return True
        self._count("sources_polled")
        if response.status == 304:
            self._finish_poll(source, schedule.Poll(status=304))
            return True
        return False

    @_poll_callback
    async def parse_feed(self, response: Response) -> list[scrapy.Request]:
        source: SourceRef = response.meta["source"]
        if self._answered_without_content(response):
            return []
        assert source.id is not None
        # The worker hands back only entries not seen before, at most fetch.max_entries.
        seen = frozenset(entry_digest(key) for key in self.state.entry_keys(source.id))
        try:
            found = await self.workers.run(
                new_entries,
                response.body,
                response.url,
                _header(response, "Content-Type"),
                seen,
                self.config.fetch.max_entries,
            )
        except (FeedError, WorkerExited) as exc:
            self._source_error(source, response.status, str(exc))
            return []
        feed = found.feed
        if feed.problem:
            log.warning(
                "feed malformed source=%s problem=%s (using %d entries)",
                source.url,
                feed.problem,
                found.seen + len(feed.entries) + found.left_out,
            )
        self._count("entries_seen", found.seen)
        source_now = SourceRef(source.kind, source.url, source.name or feed.title, source.id)
        requests = self._entry_requests(source_now, feed.entries)
        self._listing(source, "", found.listed)
        if found.left_out:  # past fetch.max_entries: the next polls take them up
            log.info(
                "feed capped source=%s max_entries=%d; %d entries left for the next polls",
                source.url,
                self.config.fetch.max_entries,
                found.left_out,
            )
        settled = not requests and not found.left_out
        etag, last_modified = _validators(response, settled=settled)
        poll = schedule.Poll(
            status=response.status,
            new_entries=len(requests),
            cadence=schedule.cadence(found.dates),
            ttl=feed.ttl,
            etag=etag,
            last_modified=last_modified,
            name=feed.title,
        )
        self._finish_poll(source, poll)
        return requests

    def _entry_requests(self, source: SourceRef, entries: list[FeedEntry]) -> list[scrapy.Request]:
        """The article requests for a feed's new entries, looked up a batch at a time, one
        commit per batch."""
        assert source.id is not None
        requests: list[scrapy.Request] = []
        for start in range(0, len(entries), ENTRY_BATCH):
            batch = entries[start : start + ENTRY_BATCH]
            with self.state.transaction():
                seen = self.state.seen_entry_keys(source.id, [e.key for e in batch])
                for entry in batch:
                    if request := self._entry_request(source, entry, seen=entry.key in seen):
                        requests.append(request)
        return requests

    def _entry_request(
        self, source: SourceRef, entry: FeedEntry, *, seen: bool
    ) -> scrapy.Request | None:
        assert source.id is not None
        self._count("entries_seen")
        if seen:
            return None
        self._count("entries_new")
        if not entry.link:
            self._count("entries_without_link")
            self.state.mark_entries(source.id, [entry.key])
            return None
        if entry.published is not None and self._too_old(entry.published):
            self._count("too_old")
            self.state.mark_entries(source.id, [entry.key])
            self.state.mark_urls([normalize_url(entry.link)], "too-old")
            facts = {"published": entry.published.isoformat(), "published_source": "feed"}
            self._record(
                entry.link,
                "too-old",
                {"seen": trail.seen(source, entry), "facts": facts},
                f"published {facts['published']} by the feed entry, older than fetch.max_age",
            )
            return None
        return self._article_request(entry.link, source, entry=entry)

    def _listing(self, source: SourceRef, part: str, digests: Iterable[bytes]) -> None:
        """Remember what this part of the source lists now (`entry_digest`s of entry keys and
        normalised URLs): a seen URL or entry still listed is never forgotten."""
        if source.id is not None:
            self.state.record_listing(source.id, part, digests)

    def _too_old(self, published: datetime) -> bool:
        return datetime.now(UTC) - published > self.config.fetch.max_age

    # -- sitemaps --------------------------------------------------------------------------------

    def sitemap_request(self, sitemap: SitemapSource) -> scrapy.Request:
        row = self.state.source("sitemap", sitemap.url, sitemap.name)
        source = SourceRef("sitemap", sitemap.url, sitemap.name or row.name, row.id)
        return self._sitemap_request(
            sitemap.url, source, level=0, validators=(row.etag, row.last_modified)
        )

    def _sitemap_request(
        self,
        url: str,
        source: SourceRef,
        level: int,
        validators: tuple[str | None, str | None] = (None, None),
    ) -> scrapy.Request:
        return self._poll_request(
            url, self.parse_sitemap, source, validators=validators, sitemap_level=level
        )

    @_poll_callback
    async def parse_sitemap(self, response: Response) -> list[scrapy.Request]:
        """A robots.txt (its Sitemap: lines), a sitemap index (its recent children) or a urlset
        (its recent, unseen pages, with Google News dates and titles)."""
        source: SourceRef = response.meta["source"]
        level: int = response.meta["sitemap_level"]
        if self._answered_without_content(response):
            return []
        if urlsplit(response.url).path.endswith("/robots.txt"):
            children = robots_sitemaps(response.body, response.url)
            self._finish_poll(source, schedule.Poll(status=response.status))
            return [self._sitemap_request(url, source, level + 1) for url in children]
        try:
            parsed = await self.workers.run(parse_sitemap, response.body)
        except (SitemapError, WorkerExited) as exc:
            self._source_error(source, response.status, str(exc))
            return []
        assert source.id is not None
        row = self.state.source_by_id(source.id)
        # Children not modified since the last poll are skipped, unless that poll had errors
        # (a child that failed then is fetched again; its pages are deduplicated anyway).
        last_poll = row.last_polled_at if row.error_count == 0 else None
        requests: list[scrapy.Request] = []
        with self.state.transaction():
            for entry in parsed.entries:
                self._count("entries_seen")
                if entry.published is not None and self._too_old(entry.published):
                    continue
                if parsed.kind == "sitemapindex":
                    unchanged = (
                        entry.published and last_poll and entry.published.timestamp() < last_poll
                    )
                    if level < MAX_SITEMAP_LEVELS and not unchanged:
                        requests.append(self._sitemap_request(entry.url, source, level + 1))
                elif not self.state.entry_seen(source.id, entry.url):
                    self._count("entries_new")
                    item = FeedEntry(entry.url, entry.url, entry.title, None, None, entry.published)
                    if request := self._article_request(entry.url, source, entry=item):
                        requests.append(request)
            if parsed.kind != "sitemapindex":
                urls = [entry.url for entry in parsed.entries]
                listed = {entry_digest(u) for url in urls for u in (url, normalize_url(url))}
                self._listing(source, response.url if level else "", listed)
        etag, last_modified = _validators(response, settled=level == 0 and not requests)
        new = sum(1 for r in requests if r.callback == self.parse_article)
        poll = schedule.Poll(
            status=response.status, new_entries=new, etag=etag, last_modified=last_modified
        )
        self._finish_poll(source, poll)
        return requests

    # -- sites -----------------------------------------------------------------------------------

    def site_requests(self, site: SiteSource) -> Iterator[scrapy.Request]:
        """A request for each start page of a site; they are revisited on every pass."""
        row = self.state.source("site", site.start[0], site.name)
        source = SourceRef("site", site.start[0], site.name, row.id)
        self._site_pass[site.key] = SitePass(budget=site.budget)
        for start in site.start:
            yield scrapy.Request(
                start,
                callback=self.parse_section,
                errback=self.source_failed,
                dont_filter=True,
                priority=10,
                meta={"source": source, "site": site, "depth": 0},
            )

    @_poll_callback
    def parse_section(self, response: Response) -> list[scrapy.Request]:
        """A start page or a page matched by `follow`: its links, no item."""
        source: SourceRef = response.meta["source"]
        requests = list(self._links(response))
        linked = [r.url for r in requests if r.callback == self.parse_article]
        self._listing(source, response.url, {entry_digest(normalize_url(u)) for u in linked})
        if response.meta["depth"] == 0:
            self._count("sources_polled")
            new = sum(1 for r in requests if r.callback == self.parse_article)
            self._finish_poll(source, schedule.Poll(status=response.status, new_entries=new))
        return requests

    def _links(self, response: Response) -> Iterator[scrapy.Request]:
        """Requests for the links of a site page while depth remains: article pages (`allow`)
        within the pass's budget, and pages to walk through (`follow`) once per pass."""
        site: SiteSource | None = response.meta.get("site")
        depth: int = response.meta.get("depth", 0)
        if site is None or depth >= site.depth or not isinstance(response, TextResponse):
            return
        state = self._site_pass.setdefault(site.key, SitePass(budget=site.budget))
        hosts = {urlsplit(url).netloc for url in site.start}
        meta = {
            "source": response.meta["source"],
            "site": site,
            "depth": depth + 1,
            "found_on": response.url,
        }
        articles = LinkExtractor(allow=site.allow, deny=site.deny)
        for link in articles.extract_links(response):
            if urlsplit(link.url).netloc not in hosts or link.url in state.linked:
                continue
            state.linked.add(link.url)
            if state.budget <= 0:
                self._count("budget_exhausted")
                continue
            state.budget -= 1
            if request := self._article_request(link.url, meta["source"], meta=meta):
                yield request
        if not site.follow:
            return
        sections = LinkExtractor(allow=site.follow, deny=site.deny)
        for link in sections.extract_links(response):
            if urlsplit(link.url).netloc in hosts and link.url not in state.linked:
                state.linked.add(link.url)
                yield scrapy.Request(
                    link.url,
                    callback=self.parse_section,
                    errback=self.article_failed,
                    dont_filter=True,
                    meta=meta,
                )

    # -- articles --------------------------------------------------------------------------------

    def _article_request(
        self,
        url: str,
        source: SourceRef,
        *,
        entry: FeedEntry | None = None,
        meta: dict[str, Any] | None = None,
    ) -> scrapy.Request | None:
        """The request for an article page; None for a link Scrapy cannot even represent
        (`javascript:alert(1)`, `mailto:x`), which is refused and remembered like any other."""
        found = trail.seen(source, entry, found_on=(meta or {}).get("found_on"))
        try:
            return scrapy.Request(
                url,
                callback=self.parse_article,
                errback=self.article_failed,
                meta={"source": source, "entry": entry, **(meta or {}), "seen": found},
            )
        except ValueError as exc:
            self._count("refused_urls")
            self.state.mark_urls([url], "refused")
            if entry is not None and source.id is not None:
                self.state.mark_entries(source.id, [entry.key])
            self._record(url, "refused", {"seen": found}, str(exc), logged=True)
            log.warning("page failed source=%s url=%s error=refused: %s", source.url, url, exc)
            return None

    def deliver_request(self, url: str) -> scrapy.Request:
        """The request of `crawler deliver URL`: fetched even if seen (through the same guard,
        robots.txt and politeness), its item credited to the source that first linked to it."""
        earlier = self.state.decision(normalize_url(url))
        first = ((earlier or {}).get("seen") or {}).get("source") or {}
        kinds: dict[str, SourceKind] = {"feed": "feed", "sitemap": "sitemap", "site": "site"}
        kind = kinds.get(first.get("kind") or "", "site")
        source = SourceRef(kind, first.get("url") or url, first.get("name"))
        meta: dict[str, Any] = {
            "source": source,
            "entry": None,
            "seen": trail.seen(source, None, via="deliver"),
            "deliver": True,
        }
        if earlier is not None:
            keep = ("outcome", "detail", "decided_at", "seen")
            meta["earlier"] = {k: earlier.get(k) for k in keep if earlier.get(k) is not None}
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.article_failed,
            dont_filter=True,
            meta=meta,
        )

    def parse_article(self, response: Response) -> list[Page | scrapy.Request]:
        self._count("pages_fetched")
        page = Page(
            url=response.url,
            requested_url=response.request.url if response.request else response.url,
            status=response.status,
            content_type=_header(response, "Content-Type"),
            body=response.body,
            source=response.meta["source"],
            fetched_at=datetime.now(UTC),
            entry=response.meta.get("entry"),
            min_words=site.min_words if (site := response.meta.get("site")) else 0,
            trail={"seen": response.meta.get("seen")}
            | ({"earlier": response.meta["earlier"]} if "earlier" in response.meta else {}),
            forced=bool(response.meta.get("deliver")),
        )
        return [page, *self._links(response)]

    def article_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        source: SourceRef = request.meta["source"]
        entry: FeedEntry | None = request.meta.get("entry")
        status = _failure_status(failure)
        reason = _failure_reason(failure)
        decided = ""  # the outcome kept in the trail; a temporary one is not marked seen
        if failure.check(RefusedRequest):
            outcome = "refused"  # a scheme or host we never fetch
        elif failure.check(DownloadCancelledError):
            outcome, reason = "too-large", "larger than fetch.max_page_size"
        elif status in PERMANENT_STATUSES:
            outcome = f"http-{status}"
        else:
            outcome = ""  # temporary: a later pass tries again (see SeenUrlFilter.IN_FLIGHT_TTL)
            # HttpError is an IgnoreRequest too; the one without a response is robots.txt's
            robots = status is None and failure.check(IgnoreRequest)
            decided = "robots" if robots else "fetch-failed"
        if outcome:
            self.state.mark_urls([normalize_url(request.url)], outcome)
            if entry is not None and source.id is not None:
                self.state.mark_entries(source.id, [entry.key])
        self._count("page_errors")
        log.warning("page failed source=%s url=%s error=%s", source.url, request.url, reason)
        found = request.meta.get("seen") or trail.seen(source, entry)
        fetch = {"at": time.time(), "status": status, "error": reason}
        path = {"seen": found, "fetch": fetch}
        self._record(request.url, outcome or decided, path, reason, logged=True)

    def _record(
        self, url: str, outcome: str, path: dict[str, Any], detail: str, *, logged: bool = False
    ) -> None:
        """Keep the decision on a page that never reached the pipelines (crawler/trail.py)."""
        trail.record(
            self.state, url, outcome, path, detail=detail, stats=self.crawler.stats, logged=logged
        )

    # -- source errors ---------------------------------------------------------------------------

    def source_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self._source_error(
            request.meta["source"], _failure_status(failure), _failure_reason(failure)
        )

    def _source_error(
        self, source: SourceRef, status: int | None, reason: str, retry_after: float | None = None
    ) -> None:
        self._count("source_errors")
        poll = schedule.Poll(status=status, error=reason, retry_after=retry_after)
        self._finish_poll(source, poll)
        log.warning("source failed source=%s error=%s", source.url, reason)

    def _poll_not_recorded(self, source: SourceRef, exc: BaseException) -> None:
        self._count("source_errors")
        log.error("source failed source=%s error=%s", source.url, write_failure(exc))
        interval = self._bounds(source).every.total_seconds()
        self.crawler.signals.send_catch_log(
            source_polled, source=source, next_poll_at=time.time() + interval
        )

    # -- the schedule ----------------------------------------------------------------------------

    def _finish_poll(self, source: SourceRef, poll: schedule.Poll) -> None:
        """Record a poll with the next one that crawler/schedule.py decides; tell the daemon."""
        assert source.id is not None
        row = self.state.source_by_id(source.id)
        history = schedule.History(
            entry_gap=row.entry_gap,
            last_new_at=row.last_new_at or row.first_polled_at,
            error_count=row.error_count,
            ttl=row.ttl,
        )
        outcome = schedule.plan(
            poll, history, self._bounds(source), now=time.time(), jitter=self.config.schedule.jitter
        )
        self.state.record_poll(source.id, outcome)
        self.crawler.signals.send_catch_log(
            source_polled, source=source, next_poll_at=outcome.next_poll_at
        )

    def _bounds(self, source: SourceRef) -> schedule.Bounds:
        every = self._every.get(source.url)
        limits = self.config.schedule
        return schedule.Bounds(every or limits.min_every, limits.min_every, limits.max_every)


@dataclass(slots=True)
class SitePass:
    """One pass over a site: article pages left in its budget, links already taken."""

    budget: int
    linked: set[str] = field(default_factory=set)


def _validators(response: Response, *, settled: bool) -> tuple[str | None, str | None]:
    """The ETag and Last-Modified to keep from a poll, only once every entry it listed is
    settled. A poll that found new entries, or stopped at `fetch.max_entries`, is answered in
    full next time, not 304, so an entry whose page failed, that a crash or a full disk cut
    short, or that the cap left for later, is taken up again."""
    if not settled:
        return None, None
    return _header(response, "ETag"), _header(response, "Last-Modified")


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _failure_status(failure: Failure) -> int | None:
    if failure.check(HttpError):
        return int(failure.value.response.status)  # type: ignore[union-attr]
    return None


def _failure_reason(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"  # type: ignore[union-attr]
    return error_text(failure.value)
