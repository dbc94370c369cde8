"""What travels from the spider through the item pipelines.

The spider yields one `Page` per fetched article page; each pipeline fills in its part
(article, content hash, topics) or rejects the page with `Rejected`, whose `outcome` is
recorded in the state database so the page is not fetched again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from scrapy.exceptions import DropItem

from crawler.extract import Article
from crawler.sources import SourceRef
from crawler.sources.feeds import FeedEntry
from crawler.topics import TopicMatch


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

    @property
    def published(self) -> datetime | None:
        """The feed's date, else the page's."""
        if self.entry is not None and self.entry.published is not None:
            return self.entry.published
        if self.article is not None and self.article.published:
            return _parse_date(self.article.published)
        return None


class Rejected(DropItem):
    """A page that will not become an item; `outcome` says why (stored as the URL's outcome)."""

    def __init__(self, outcome: str, detail: str = "") -> None:
        self.outcome = outcome
        super().__init__(f"{outcome}: {detail}" if detail else outcome, log_level="DEBUG")


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
