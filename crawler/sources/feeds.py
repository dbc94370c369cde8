"""Feeds: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed directly, into one model.

This is the only module that imports feedparser, and only where it parses (in the worker
processes: the crawler process uses the model, never the parser). It parses bytes that Scrapy
fetched; it never touches the network. A body that is not a usable feed raises `FeedError`
with a reason a person can act on (feedparser itself never raises and reports nothing for an
empty body). Every string of the model is valid and printable (`crawler.printable`): a control
character or a lone surrogate in a feed becomes U+FFFD here, never reaches the state database
or an item::

    feed = parse_feed(response.body, response.url, response.headers.get("Content-Type"))
    for entry in feed.entries:
        print(entry.key, entry.link, entry.published)
"""

from __future__ import annotations

import calendar
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import lxml.html

from crawler.errors import CrawlerError
from crawler.printable import printable, printable_or_none
from crawler.urls import normalize_url

# A date further ahead than this is a feed's mistake, not a publication time.
FUTURE_TOLERANCE = timedelta(days=1)


class FeedError(CrawlerError):
    """A response that is not a usable feed."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    key: str  # the entry's id, else its link, else a hash of its title and summary
    link: str | None  # absolute, as the feed gives it (not yet checked or normalised)
    title: str | None
    summary: str | None  # plain text
    author: str | None
    published: datetime | None  # UTC


@dataclass(frozen=True, slots=True)
class Feed:
    title: str | None
    link: str | None
    entries: list[FeedEntry]
    problem: str | None = None  # what was wrong with a feed that could still be read
    ttl: float | None = None  # seconds the feed may be cached (<ttl>, sy:updatePeriod)


@dataclass(frozen=True, slots=True)
class NewEntries:
    """What one poll takes from a feed (`new_entries`): the feed with only its entries not seen
    before, at most `limit` of them, so a 50,000-entry feed does not travel from the worker
    process whole."""

    feed: Feed
    seen: int  # entries left out as seen
    left_out: int  # entries not seen but left out past the limit: for the next polls
    dates: list[float]  # publication dates of every entry, Unix seconds (the feed's rhythm)
    listed: frozenset[bytes]  # `entry_digest` of every entry's key and normalised link


def entry_digest(key: str) -> bytes:
    """A short, fixed-size stand-in for an entry key or URL: to tell a worker which entries were
    seen, and to record what a source lists (`State.record_listing`)."""
    return hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).digest()


def new_entries(
    body: bytes, url: str, content_type: str | None, seen: frozenset[bytes], limit: int
) -> NewEntries:
    """Parse a feed and keep the first `limit` entries whose `entry_digest` is not in `seen`."""
    feed = parse_feed(body, url, content_type)
    dates = [entry.published.timestamp() for entry in feed.entries if entry.published]
    fresh = [entry for entry in feed.entries if entry_digest(entry.key) not in seen]
    kept = fresh[:limit]
    listed = {entry_digest(entry.key) for entry in feed.entries}
    listed.update(entry_digest(normalize_url(e.link)) for e in feed.entries if e.link)
    return NewEntries(
        feed=Feed(feed.title, feed.link, kept, feed.problem, feed.ttl),
        seen=len(feed.entries) - len(fresh),
        left_out=len(fresh) - len(kept),
        dates=dates,
        listed=frozenset(listed),
    )


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> Feed:
    """Parse one feed document fetched from `url`."""
    if not body.strip():
        raise FeedError("empty response")
    if body.lstrip()[:1] == b"{" or "json" in (content_type or "").lower():
        return _parse_json_feed(body, url)
    import feedparser

    parsed = feedparser.parse(
        body,
        response_headers={"content-location": url, "content-type": content_type or ""},
        sanitize_html=True,
    )
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        if body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            raise FeedError("not a feed: the server sent an HTML page")
        raise FeedError(f"not a feed: {problem}" if problem else "not a feed")
    now = datetime.now(UTC)
    entries = [_entry(raw, url, now) for raw in parsed.entries]
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(problem, feedparser.CharacterEncodingOverride):
        problem = None  # a wrong charset label that feedparser corrected: nothing to report
    return Feed(
        title=_clean(parsed.feed.get("title")),
        link=printable_or_none(parsed.feed.get("link")),
        entries=entries,
        problem=_clean(problem),
        ttl=_ttl(parsed.feed),
    )


def _entry(raw: Any, feed_url: str, now: datetime) -> FeedEntry:
    link = raw.get("link") or _first_alternate(raw)
    link = printable(urljoin(feed_url, link.strip())) if link else None
    title = _clean(raw.get("title"))
    summary = _text(raw.get("summary"))
    published = None
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(field)
        if value:
            published = _plausible(datetime.fromtimestamp(calendar.timegm(value), UTC), now)
            break
    return FeedEntry(
        key=_key(raw.get("id"), link, title, summary),
        link=link,
        title=title,
        summary=summary,
        author=_clean(raw.get("author")),
        published=published,
    )


def _first_alternate(raw: Any) -> str | None:
    for link in raw.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None


def _parse_json_feed(body: bytes, url: str) -> Feed:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise FeedError("not a feed: JSON without a JSON Feed version")
    now = datetime.now(UTC)
    entries = []
    for raw in data.get("items") or []:
        if not isinstance(raw, dict):
            continue
        link = raw.get("url") or raw.get("external_url")
        link = printable(urljoin(url, str(link).strip())) if link else None
        title = _clean(raw.get("title"))
        summary = _clean(raw.get("summary")) or _text(raw.get("content_html"))
        authors = raw.get("authors") or ([raw["author"]] if raw.get("author") else [])
        author = next((a.get("name") for a in authors if isinstance(a, dict)), None)
        published = _iso(raw.get("date_published") or raw.get("date_modified"))
        entries.append(
            FeedEntry(
                key=_key(raw.get("id"), link, title, summary),
                link=link,
                title=title,
                summary=summary,
                author=_clean(author),
                published=_plausible(published, now) if published else None,
            )
        )
    return Feed(
        title=_clean(data.get("title")),
        link=printable_or_none(data.get("home_page_url")),
        entries=entries,
    )


_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


def _ttl(channel: Any) -> float | None:
    """RSS <ttl> (minutes) or the syndication module's period / frequency, in seconds."""
    ttl = str(channel.get("ttl", "")).strip()
    if ttl.isdigit() and int(ttl) > 0:
        return int(ttl) * 60.0
    period = _PERIODS.get(str(channel.get("sy_updateperiod", "")).strip().lower())
    if period is None:
        return None
    frequency = str(channel.get("sy_updatefrequency", "1")).strip()
    return period / int(frequency) if frequency.isdigit() and int(frequency) > 0 else period


def _key(entry_id: Any, link: str | None, title: str | None, summary: str | None) -> str:
    if entry_id and str(entry_id).strip():
        return printable(str(entry_id).strip())
    if link:
        return link
    digest = hashlib.sha256(f"{title or ''}\n{summary or ''}".encode()).hexdigest()
    return f"sha256:{digest}"


def _iso(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _plausible(published: datetime, now: datetime) -> datetime | None:
    """A date in the far future is unknown, not 'newest'."""
    return None if published > now + FUTURE_TOLERANCE else published.astimezone(UTC)


def _clean(value: Any) -> str | None:
    if not value:
        return None
    text = printable(" ".join(str(value).split()))
    return text or None


def _text(html: Any) -> str | None:
    """Plain text of a feed's HTML summary."""
    if not html or not str(html).strip():
        return None
    html = printable(str(html), multiline=True)  # lxml refuses control characters
    try:
        return _clean(lxml.html.fromstring(html).text_content())
    except (ValueError, lxml.etree.ParserError):
        return _clean(html)
