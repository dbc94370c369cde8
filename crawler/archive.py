"""The archive of recently extracted articles, put to work for topics.

Every article that passes dedup is archived (compressed, in the state database) for
`archive.keep`, whether it matched a topic or not. Two things read it:

- `backfill`: a topic added to the settings is matched once against the archived articles of
  the last `fetch.max_age`, so its first items and alerts need not wait for new articles;
- `recent_matches`: `crawler topics test QUERY --recent 7d` shows what a query would have caught,
  so a topic can be tuned before its alerts are turned on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ulid import ULID

from crawler import guard, trail
from crawler.alerts.sender import alert_rows
from crawler.article import is_html
from crawler.delivery import deliver
from crawler.errors import CrawlerError, FetchError, QueueError
from crawler.items import item_document, make_item
from crawler.topics import Document, Matcher, Topic, TopicMatch

if TYPE_CHECKING:
    from crawler.config import FetchSettings, Settings
    from crawler.queue import Queue
    from crawler.state import State

log = logging.getLogger("crawler.archive")

KNOWN_TOPICS = "topics:known"  # meta key: the topic names already backfilled or present


def backfill(config: Settings, state: State, queue: Queue, now: float | None = None) -> int:
    """Queue archived articles that match topics added since the last run; returns how many."""
    now = time.time() if now is None else now
    names = [t.name for t in config.topics]
    known_text = state.meta(KNOWN_TOPICS)
    known = set(json.loads(known_text)) if known_text else None
    state.set_meta(KNOWN_TOPICS, json.dumps(sorted(set(names) | (known or set()))))
    new = [t for t in config.topics if known is not None and t.name not in known]
    if not new or not config.archive.backfill:
        return 0
    state.purge_archive(now - config.archive.keep.total_seconds())
    matcher = Matcher(Topic(t.name, t.query, t.stem, t.min_count) for t in new)
    alerts = {t.name: t.alert for t in new if t.alert is not None}
    delivered = 0
    for item_id, record in state.archived(now - config.fetch.max_age.total_seconds()):
        matches = matcher.match(item_document(record)) if item_id is None else []
        if not matches:
            continue
        item = make_item(record, str(ULID()), matches)
        try:
            path = deliver(queue, state, item, alerts, urls=[record["url"]])
        except QueueError as exc:
            log.error("backfill stopped: %s", exc)
            break
        trail.record_backfill(state, record, item, path.name, alert_rows(item, alerts))
        delivered += 1
    log.info("backfill topics=%s items=%d", ",".join(t.name for t in new), delivered)
    return delivered


def recent_matches(
    state: State, topic: Topic, since: float
) -> Iterator[tuple[dict[str, Any], TopicMatch]]:
    """Each archived article since `since` that `topic` matches, with the match."""
    matcher = Matcher([topic])
    for _, record in state.archived(since):
        for match in matcher.match(item_document(record)):
            yield record, match


def load_document(source: str, fetch: FetchSettings, stdin_text: str | None = None) -> Document:
    """The document `crawler topics test` matches: a page at a URL (fetched through the address
    guard with the crawl's `fetch` settings, then extracted), an HTML or text file, or standard
    input ('-')."""
    if source == "-":
        return _document(stdin_text or "", "")
    if source.startswith(("http://", "https://")):
        try:
            page = guard.fetch(
                source,
                user_agent=fetch.user_agent,
                allow_hosts=fetch.allow_hosts,
                timeout=fetch.timeout.total_seconds(),
                max_bytes=fetch.max_page_size,
                verify=fetch.verify_certificates,
            )
        except FetchError as exc:
            raise CrawlerError(f"cannot fetch {source}: {exc}") from None
        if not is_html(page.content_type, page.body):
            raise CrawlerError(f"{source} is not an HTML page ({page.content_type})")
        return _document(page.body, page.url)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CrawlerError(f"cannot read {source}: {exc.strerror}") from None
    if is_html(None, data):
        return _document(data, path.resolve().as_uri())
    return _document(data.decode("utf-8", errors="replace"), "")


def _document(content: str | bytes, url: str) -> Document:
    if isinstance(content, bytes) or content.lstrip().startswith("<"):
        from crawler.extract import extract  # the command line's, never the daemon's import

        article = extract(content, url or "https://example.invalid/")
        if article is None:
            raise CrawlerError("no article text found on that page")
        return item_document(
            {
                "title": article.title,
                "text": article.text,
                "url": url,
                "author": article.author,
                "language": article.language,
                "source": {"site": article.sitename},
            }
        )
    return Document(text=content)
