"""Sitemaps: sitemap indexes, urlsets, gzip files, Google News tags and robots.txt lines.

Parsing is Scrapy's (`scrapy.utils.sitemap`), extended to read the nested Google News elements
(`news:publication_date`, `news:title`) that it flattens away. Pure functions of bytes, so they
can run in a worker process: a sitemap may hold 50,000 URLs.

    parsed = parse_sitemap(body)
    parsed.kind            # "urlset" or "sitemapindex"
    parsed.entries[0].url, parsed.entries[0].published, parsed.entries[0].title
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import lxml.etree
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawler.errors import CrawlerError
from crawler.printable import printable

__all__ = ["ParsedSitemap", "SitemapEntry", "SitemapError", "parse_sitemap", "robots_sitemaps"]

GZIP_MAGIC = b"\x1f\x8b"


class SitemapError(CrawlerError):
    """A response that is not a usable sitemap."""


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    url: str
    published: datetime | None  # news:publication_date, else lastmod (UTC)
    title: str | None  # news:title


@dataclass(frozen=True, slots=True)
class ParsedSitemap:
    kind: str  # "urlset" or "sitemapindex"
    entries: list[SitemapEntry]


class NewsSitemap(Sitemap):
    """Scrapy's Sitemap, keeping the Google News publication date and title of each URL."""

    def _process_sitemap_element(self, elem: lxml.etree._Element) -> dict[str, Any] | None:
        news: dict[str, str] = {}
        for child in elem.iter():
            name = self._get_tag_name(child)
            if name in ("publication_date", "title") and child.text:
                news[f"news_{name}"] = child.text.strip()
        entry = super()._process_sitemap_element(elem)
        return None if entry is None else {**entry, **news}


def parse_sitemap(body: bytes, max_size: int = 50 * 1000**2) -> ParsedSitemap:
    """Parse a sitemap (gzip or not) into its entries."""
    if body[:2] == GZIP_MAGIC:
        try:
            body = gunzip(body, max_size=max_size)
        except Exception as exc:  # scrapy raises its own error past max_size, OSError if corrupt
            raise SitemapError(f"bad gzip sitemap: {exc}") from None
    if not body.strip():
        raise SitemapError("empty response")
    try:
        sitemap = NewsSitemap(body)
    except (lxml.etree.XMLSyntaxError, StopIteration) as exc:
        raise SitemapError(f"not a sitemap: {exc}") from None
    if sitemap.type not in ("urlset", "sitemapindex"):
        raise SitemapError(f"not a sitemap: the document is <{sitemap.type}>")
    entries = [
        SitemapEntry(
            url=printable(raw["loc"]),
            published=_date(raw.get("news_publication_date") or raw.get("lastmod")),
            title=printable(raw["news_title"]) if raw.get("news_title") else None,
        )
        for raw in sitemap
        if raw.get("loc")
    ]
    return ParsedSitemap(sitemap.type, entries)


def robots_sitemaps(body: bytes, robots_url: str) -> list[str]:
    """The `Sitemap:` URLs of a robots.txt."""
    return [printable(url) for url in sitemap_urls_from_robots(body, base_url=robots_url)]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
