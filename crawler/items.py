"""What travels from the spider through the item pipelines, and the item it becomes.

The spider yields one `Page` per fetched article page; each pipeline fills in its part
(article, content hash, topics) or rejects the page with `Rejected`, whose `outcome` is
recorded in the state database so the page is not fetched again.

An accepted page becomes an item (schema 1, one JSON file in the queue folder): `article_record`
is the item without its id and topics (also what the archive keeps), `make_item` completes it.
The schema only grows: a field is never renamed or repurposed. Every text field of an item is
valid and printable: the page's title, author, text and the rest pass through
`crawler.printable` here (the feed's fields did in the feed adapter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import DropItem

from crawler.article import Article, PublishedSource
from crawler.printable import printable
from crawler.sources import SourceRef
from crawler.sources.feeds import FeedEntry
from crawler.topics import Document, TopicMatch

SCHEMA_VERSION = 1
PUBLICATION_SOURCES: frozenset[PublishedSource] = frozenset({"feed", "json-ld", "meta", "time"})


@dataclass(slots=True)
class Page:
    url: str  # final URL, after redirects
    requested_url: str  # the URL the feed or page linked to
    status: int
    content_type: str | None
    body: bytes
    source: SourceRef
    fetched_at: datetime
    entry: FeedEntry | None = None  # the feed entry that linked here, if any
    article: Article | None = None
    content_hash: str | None = None
    topics: list[TopicMatch] = field(default_factory=list)
    record: dict[str, Any] | None = None  # the item to be, once the page has passed dedup
    min_words: int = 0  # a page with less text is not an article (sites: `min_words`)
    trail: dict[str, Any] = field(default_factory=dict)  # its path so far (crawler/trail.py)
    forced: bool = False  # `crawler deliver`: queued whatever the duplicate verdict

    @property
    def published(self) -> datetime | None:
        """The feed's date, else the page's."""
        if self.entry is not None and self.entry.published is not None:
            return self.entry.published
        if self.article is not None and self.article.published:
            return _parse_date(self.article.published)
        return None

    @property
    def published_source(self) -> PublishedSource | None:
        """Where `published` comes from: "feed" (the feed or sitemap entry), else the page's
        "json-ld", "meta", "time", "url" or "text" (see crawler/metadata.py)."""
        if self.entry is not None and self.entry.published is not None:
            return "feed"
        if self.published is not None and self.article is not None:
            return self.article.published_source
        return None

    @property
    def dated(self) -> datetime | None:
        """The date that may decide whether the page is too old: `published` only when it is
        stated as the date of publication, precise to the day (feed entry, JSON-LD, a
        publication <meta>, a <time> in the article); never a date read from the URL or
        guessed from the text."""
        return self.published if self.published_source in PUBLICATION_SOURCES else None


class Rejected(DropItem):
    """A page that will not become an item; `outcome` says why (stored as the URL's outcome),
    `detail` in words, `facts` as JSON-ready data for the decision trail (`crawler explain`):
    e.g. the similarity and the facts that agreed for a near-duplicate, the date and where it
    came from for a page that is too old."""

    def __init__(
        self,
        outcome: str,
        detail: str = "",
        *,
        duplicate_of: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        self.outcome = outcome
        self.detail = detail
        self.duplicate_of = duplicate_of  # the queued item this page is a copy of
        self.facts = dict(facts or {})
        super().__init__(f"{outcome}: {detail}" if detail else outcome, log_level="DEBUG")


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def article_record(page: Page) -> dict[str, Any]:
    """The item for a page that passed extraction and dedup, without its id and topics."""
    article = page.article
    assert article is not None
    published = page.published
    entry = page.entry
    return {
        "schema": SCHEMA_VERSION,
        "id": None,
        "url": printable(page.url),
        "canonical_url": _line(article.canonical_url),
        "title": _line(article.title or (entry.title if entry else None)),
        "author": _line(article.author or (entry.author if entry else None)),
        "published": published.isoformat() if published else None,
        "published_source": page.published_source,
        "fetched_at": page.fetched_at.isoformat(),
        "language": _line(article.language),
        "text": printable(article.text, multiline=True),
        "summary": _line(entry.summary if entry else None),
        "source": {**page.source.as_json(), "site": _line(article.sitename)},
        "topics": [],
        "content_hash": page.content_hash,
    }


def _line(value: str | None) -> str | None:
    """A one-line field of the page, valid and printable (see crawler/printable.py)."""
    return printable(value) if value else value


def make_item(record: dict[str, Any], item_id: str, matches: list[TopicMatch]) -> dict[str, Any]:
    """The queued item: the record with its id and the topics it matched."""
    topics: list[dict[str, Any]] = []
    for m in matches:
        terms = sorted(m.terms, key=lambda t: -m.terms[t])
        highlights = [list(span) for span in m.highlights]  # [start, end) in the snippet
        topics.append(
            {"name": m.name, "terms": terms, "snippet": m.snippet, "highlights": highlights}
        )
    return {**record, "id": item_id, "topics": topics}


def item_document(record: dict[str, Any]) -> Document:
    """What topic queries see of an item: `source` is the outlet, the site's name and the host."""
    source = record.get("source") or {}
    host = urlsplit(record.get("url") or "").hostname or ""
    return Document(
        title=record.get("title") or "",
        text=record.get("text") or "",
        url=record.get("url") or "",
        source=" ".join(filter(None, (source.get("name"), source.get("site"), host))),
        author=record.get("author") or "",
        lang=record.get("language") or "",
    )
