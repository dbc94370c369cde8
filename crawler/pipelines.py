"""Scrapy item pipelines: extract -> dedup -> match -> queue, ordered in ITEM_PIPELINES.

Each takes a `Page` from the spider and either fills in its part or raises `Rejected`. Only
extraction awaits (it runs in worker processes); dedup, matching and queueing are synchronous,
so between one page's duplicate check and the recording of its decision no other page runs, and
two copies of a story fetched at the same moment cannot both pass.

Every decision is recorded in the state database by `QueuePipeline`: queued items in the same
transaction that marks their URLs seen, rejected pages through the `item_dropped` signal; and
each page's whole path, for `crawler explain` (crawler/trail.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.exceptions import DropItem
from ulid import ULID

from crawler import trail
from crawler.alerts.sender import alert_rows
from crawler.archive import backfill
from crawler.article import is_html
from crawler.counters import observe_extraction
from crawler.dedup import Deduplicator, page_urls
from crawler.delivery import deliver
from crawler.errors import QueueError, WorkerExited
from crawler.items import Page, Rejected, article_record, item_document, make_item
from crawler.queue import Queue
from crawler.signals import delivery_failed, housekeeping, settings_reloaded
from crawler.state import State
from crawler.topics import Matcher, Topic
from crawler.worker import extract_article

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.config import Settings

log = logging.getLogger("crawler.pipelines")


def _config(crawler: Crawler) -> Settings:
    """The settings in force: the spider's, which it replaces on every reload (SIGHUP). Read
    them when they are used, never keep a copy taken at start-up."""
    config: Settings = crawler.spider.config  # type: ignore[union-attr]
    return config


def _state(crawler: Crawler) -> State:
    state: State = crawler.spider.state  # type: ignore[union-attr]
    return state


def _not_delivered(crawler: Crawler, page: Page, exc: BaseException) -> None:
    """A write failed (a full disk, an I/O error) or the worker extracting the page died: one
    error line, and the page's URLs may be fetched again at the next poll, since nothing about
    them was recorded."""
    log.error("page not delivered url=%s error=%s; it is fetched again later", page.url, exc)
    crawler.stats.inc_value("crawler/queue_errors")  # type: ignore[union-attr]
    crawler.signals.send_catch_log(delivery_failed, urls=_urls(page))


def _writes(process_item: Callable[[Any, Page], Page]) -> Callable[[Any, Page], Page]:
    """A pipeline step that writes to the state database or the queue folder: when the write
    fails the page is dropped unrecorded (see `_not_delivered`), not logged with a traceback."""

    @wraps(process_item)
    def guarded(pipeline: Any, page: Page) -> Page:
        failures: tuple[type[BaseException], ...] = (*_state(pipeline.crawler).errors, QueueError)
        try:
            return process_item(pipeline, page)
        except failures as exc:
            _not_delivered(pipeline.crawler, page, exc)
            raise DropItem(str(exc), log_level="DEBUG") from exc

    return guarded


class ExtractPipeline:
    """HTML -> Article with trafilatura, in worker processes so the event loop never stalls."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, page: Page) -> Page:
        if not is_html(page.content_type, page.body):
            raise Rejected("not-html", page.content_type or "no content type")
        workers = self.crawler.spider.workers  # type: ignore[union-attr]
        started = time.perf_counter()
        try:
            page.article = await workers.run(extract_article, page.body, page.url)
        except WorkerExited as exc:
            _not_delivered(self.crawler, page, exc)
            raise DropItem(str(exc), log_level="DEBUG") from exc
        observe_extraction(self.crawler.stats, time.perf_counter() - started)  # type: ignore[arg-type]
        if page.article is None:
            raise Rejected("no-text", "no article text on the page")
        if len(page.article.text.split()) < page.min_words:
            raise Rejected("not-article", "too little text for an article")
        dated = page.dated  # a date guessed from the URL or the text never drops a page
        if dated is not None and datetime.now(UTC) - dated > _config(self.crawler).fetch.max_age:
            raise Rejected(
                "too-old",
                f"published {dated.isoformat()} ({page.published_source})",
                facts={"published": dated.isoformat(), "published_source": page.published_source},
            )
        return page


class DedupPipeline:
    """Drops a page that repeats a story (see crawler/dedup.py, where it is decided); a copy of
    a queued item is recorded as "also reported by" on it."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.dedup: Deduplicator  # made when the spider opens, on the spider's state

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.expire, signal=housekeeping)
        crawler.signals.connect(pipeline.reloaded, signal=settings_reloaded)
        return pipeline

    def open_spider(self) -> None:
        self.dedup = Deduplicator(_state(self.crawler), _config(self.crawler).dedup)
        self.dedup.load()

    def reloaded(self, config: Settings) -> None:
        if hasattr(self, "dedup"):
            self.dedup.reloaded(config.dedup)

    def close_spider(self) -> None:
        """Keep a snapshot of the index, so that the next start loads it in one read."""
        if not hasattr(self, "dedup"):
            return  # the spider never opened
        try:
            self.dedup.save()
        except _state(self.crawler).errors as exc:
            log.warning("near-duplicate snapshot not saved error=%s; the next start is slower", exc)

    def expire(self) -> None:
        self.dedup.expire()

    @_writes
    def process_item(self, page: Page) -> Page:
        self.dedup.check(page)
        return page


class TopicPipeline:
    """Keeps the pages that match at least one topic; with no topics configured, keeps all."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.matcher = compile_topics(_config(crawler))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.reloaded, signal=settings_reloaded)
        crawler.signals.connect(pipeline.expire, signal=housekeeping)
        return pipeline

    def reloaded(self, config: Settings) -> None:
        self.matcher = compile_topics(config)

    def open_spider(self) -> None:
        self.expire()

    def expire(self) -> None:
        """Drop archived articles past `archive.keep`."""
        keep = _config(self.crawler).archive.keep.total_seconds()
        _state(self.crawler).purge_archive(time.time() - keep)

    @_writes
    def process_item(self, page: Page) -> Page:
        page.record = article_record(page)
        _state(self.crawler).archive_article(page.record)  # every unique article, for topics
        if self.matcher is not None:
            document = item_document(page.record)
            page.topics = self.matcher.match(document)
            verdicts, left_out = self.matcher.explain_all(document, limit=trail.TOPIC_VERDICTS)
            page.trail["topics"] = trail.topic_verdicts(verdicts)
            if left_out:
                page.trail["topics_left_out"] = left_out
            if not page.topics:
                raise Rejected("off-topic", "no topic matched")
        self.crawler.stats.inc_value("crawler/matched")  # type: ignore[union-attr]
        return page


class QueuePipeline:
    """Writes each accepted page as one item into the queue folder and records every decision."""

    def __init__(self, crawler: Crawler, queue: Queue) -> None:
        self.crawler = crawler
        self.queue = queue
        self.reloaded(_config(crawler))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler, Queue(_config(crawler).output.queue_dir))
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.reloaded, signal=settings_reloaded)
        return pipeline

    def reloaded(self, config: Settings) -> None:
        self.alerts = {t.name: t.alert for t in config.topics if t.alert is not None}
        if self.crawler.spider is not None and hasattr(self.crawler.spider, "state"):
            backfill(config, _state(self.crawler), self.queue)

    def open_spider(self) -> None:
        backfill(_config(self.crawler), _state(self.crawler), self.queue)

    @_writes
    def process_item(self, page: Page) -> Page:
        assert page.record is not None
        item = make_item(page.record, str(ULID()), page.topics)
        entry = None
        if page.entry is not None and page.source.id is not None:
            entry = (page.source.id, page.entry.key)
        state = _state(self.crawler)
        path = deliver(self.queue, state, item, self.alerts, urls=_urls(page), entry=entry)
        self._count("queued")
        page.trail.setdefault("duplicate", {"verdict": "unique"})
        page.trail["queued"] = trail.queued(item, path.name, alert_rows(item, self.alerts))
        trail.record(state, page.requested_url, "queued", trail.page_trail(page))
        log.info(
            "queued id=%s topics=%s url=%s file=%s",
            item["id"],
            ",".join(t["name"] for t in item["topics"]) or "-",
            page.url,
            path.name,
        )
        return page

    def item_dropped(self, item: Any, response: Any, exception: BaseException) -> None:
        if isinstance(item, Page) and isinstance(exception, Rejected):
            entry = None
            if item.entry is not None and item.source.id is not None:
                entry = (item.source.id, item.entry.key)
            try:
                _state(self.crawler).record_article(
                    urls=_urls(item),
                    outcome=exception.outcome,
                    content_hash=item.content_hash,
                    entry=entry,
                    duplicate_of=exception.duplicate_of,
                )
            except _state(self.crawler).errors as exc:
                _not_delivered(self.crawler, item, exc)  # decided again when fetched again
                return
            self._count(f"rejected/{exception.outcome}")
            trail.record(
                _state(self.crawler),
                item.requested_url,
                exception.outcome,
                trail.rejected_trail(item, exception),
                detail=exception.detail,
                stats=self.crawler.stats,
            )

    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value(f"crawler/{key}")  # type: ignore[union-attr]


def _urls(page: Page) -> list[str]:
    """Every URL a page is known by, normalised (`crawler.dedup.page_urls`)."""
    canonical = page.article.canonical_url if page.article is not None else None
    return page_urls(page.url, page.requested_url, canonical)


def compile_topics(config: Settings) -> Matcher | None:
    """One matcher for every topic of the settings; None when there are none (keep all)."""
    topics = [Topic(t.name, t.query, t.stem, t.min_count) for t in config.topics]
    return Matcher(topics) if topics else None
