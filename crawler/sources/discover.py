"""Feed discovery: which feeds a site offers, found from one of its pages.

This runs from the command line (`crawler sources discover`), never inside the daemon: it fetches
with blocking urllib calls, one request at a time. Every URL it fetches, redirects included,
passes the same address guard as the crawler's own requests (`crawler.guard.fetch`)::

    for found in discover("https://example.org/", user_agent="crawler/0.1", allow_hosts=[],
                          timeout=30):
        print(found.url, found.kind, found.title, found.entries, found.error)

Candidates, in this order: the page itself when it is a feed; `<link rel="alternate">` elements
with a feed type (resolved against `<base href>`); what trafilatura's `determine_feed` finds in
the same HTML (other alternate links, or links that look like feeds when the page declares
none); and, when none of those is a working feed, the usual paths (`/feed`, `/rss.xml`, ...) at
the site's root. Each candidate is fetched and must parse with `parse_feed`. Comment feeds are
skipped, as trafilatura does, and a feed reached through two candidates is listed once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree
from trafilatura.feeds import BLACKLIST, FeedParameters, determine_feed, is_potential_feed
from trafilatura.utils import decode_file, load_html

from crawler import guard
from crawler.article import is_html
from crawler.config import FeedSource
from crawler.dedup import normalize_url
from crawler.errors import CrawlerError, FetchError
from crawler.sources.feeds import Feed, FeedError, parse_feed

FeedKind = Literal["rss", "atom", "json"]
Origin = Literal["self", "link", "anchor", "path"]  # how a candidate was found

COMMON_PATHS = (
    "/feed",
    "/rss",
    "/rss.xml",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/feeds/posts/default",
)
MAX_CANDIDATES = 20  # feed candidates taken from one page
MAX_BYTES = 10 * 1000**2

LINK_TYPES: dict[str, FeedKind] = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
}
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/html;q=0.8, */*;q=0.5"
)

log = logging.getLogger(__name__)


class DiscoveryError(CrawlerError):
    """The page to discover feeds on could not be fetched (or a candidate, internally)."""


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A working feed (`error` is None) or a candidate that failed (`error` says why)."""

    url: str  # after redirects; as found, for a candidate that could not be fetched
    title: str | None  # the feed's own, else the title its page gave the link
    entries: int
    kind: FeedKind | None  # what the feed is, or what its link said it would be
    origin: Origin
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_source(self) -> FeedSource:
        """The settings entry for this feed."""
        return FeedSource(url=self.url, name=self.title)


@dataclass(frozen=True, slots=True)
class _Candidate:
    url: str
    origin: Origin
    title: str | None = None
    kind: FeedKind | None = None


@dataclass(frozen=True, slots=True)
class _Response:
    url: str
    body: bytes
    content_type: str | None


def discover(
    url: str,
    *,
    user_agent: str,
    allow_hosts: Iterable[str],
    timeout: float,
    max_bytes: int = MAX_BYTES,
    verify: bool = True,
) -> list[DiscoveredFeed]:
    """The feeds found from the page at `url` and the candidates that failed, in the order tried.

    Raises `DiscoveryError` when the page itself cannot be fetched. A URL without a scheme is
    taken as https. `verify` False accepts any TLS certificate (`fetch.verify_certificates`).
    """
    if "://" not in url:
        url = f"https://{url}"
    fetcher = _Fetcher(user_agent, frozenset(allow_hosts), timeout, max_bytes, verify)
    try:
        page = fetcher.get(url)
    except DiscoveryError as exc:
        raise DiscoveryError(f"{url}: {exc}") from None
    head = page.body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").decode("utf-8", "replace")
    if not is_html(page.content_type, page.body) or is_potential_feed(head):
        try:
            feed = parse_feed(page.body, page.url, page.content_type)
        except FeedError:
            pass  # not a feed either: look at it as a page all the same
        else:
            return [_found(page, feed, _Candidate(url, "self"))]
    seen = {normalize_url(page.url)}
    results = [fetcher.check(c, seen) for c in _page_candidates(page)[:MAX_CANDIDATES]]
    if not any(r is not None and r.ok for r in results):
        root = urljoin(page.url, "/")
        results += [fetcher.check(_Candidate(urljoin(root, p), "path"), seen) for p in COMMON_PATHS]
    return [result for result in results if result is not None]


def _page_candidates(page: _Response) -> list[_Candidate]:
    tree = load_html(page.body)
    if tree is None:
        return []
    base = urljoin(page.url, str(tree.xpath("string(//base/@href)")).strip())
    anchors = {normalize_url(_absolute(base, href)) for href in tree.xpath("//a/@href")}
    found: dict[str, _Candidate] = {}

    def add(
        href: str, origin: Origin, title: str | None = None, kind: FeedKind | None = None
    ) -> None:
        url = _absolute(base, href)
        key = normalize_url(url)
        if url and not BLACKLIST.search(url) and key != normalize_url(page.url):
            found.setdefault(key, _Candidate(url, origin, title, kind))

    for link in tree.xpath("//link[@href]"):
        rel = str(link.get("rel", "")).lower().split()
        media_type = str(link.get("type", "")).split(";")[0].strip().lower()
        if "alternate" in rel and media_type in LINK_TYPES:
            title = " ".join(str(link.get("title", "")).split()) or None
            add(link.get("href"), "link", title, LINK_TYPES[media_type])
    host = urlsplit(base).hostname or ""
    for url in determine_feed(decode_file(page.body), FeedParameters(base, host, page.url)):
        add(url, "anchor" if normalize_url(url) in anchors else "link")
    return list(found.values())


def _absolute(base: str, href: str) -> str:
    return urldefrag(urljoin(base, href.strip()))[0]


def _found(response: _Response, feed: Feed, candidate: _Candidate) -> DiscoveredFeed:
    return DiscoveredFeed(
        url=response.url,
        title=feed.title or candidate.title,
        entries=len(feed.entries),
        kind=_kind(response),
        origin=candidate.origin,
    )


def _kind(response: _Response) -> FeedKind:
    body = response.body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] == b"{" or "json" in (response.content_type or "").lower():
        return "json"
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, recover=True
    )
    try:
        parser.feed(body[:65536])
        root = next((element for _, element in parser.read_events()), None)
    except etree.XMLSyntaxError:
        root = None
    return "atom" if root is not None and etree.QName(root).localname == "feed" else "rss"


class _Fetcher:
    """Blocking GETs through the address guard, with the user agent, a timeout and a size cap."""

    def __init__(
        self,
        user_agent: str,
        allow_hosts: frozenset[str],
        timeout: float,
        max_bytes: int,
        verify: bool,
    ) -> None:
        self.user_agent = user_agent
        self.verify = verify
        self.allow_hosts = allow_hosts
        self.timeout = timeout
        self.max_bytes = max_bytes

    def check(self, candidate: _Candidate, seen: set[str]) -> DiscoveredFeed | None:
        """Fetch and parse one candidate; None when its final URL was already checked."""
        try:
            response = self.get(candidate.url)
        except DiscoveryError as exc:
            log.debug("feed candidate failed url=%s error=%s", candidate.url, exc)
            return self._failed(candidate, candidate.url, str(exc))
        key = normalize_url(response.url)
        if key in seen:
            return None
        seen.add(key)
        try:
            feed = parse_feed(response.body, response.url, response.content_type)
        except FeedError as exc:
            log.debug("feed candidate failed url=%s error=%s", candidate.url, exc)
            return self._failed(candidate, response.url, str(exc))
        return _found(response, feed, candidate)

    @staticmethod
    def _failed(candidate: _Candidate, url: str, error: str) -> DiscoveredFeed:
        return DiscoveredFeed(url, candidate.title, 0, candidate.kind, candidate.origin, error)

    def get(self, url: str) -> _Response:
        try:
            page = guard.fetch(
                url,
                user_agent=self.user_agent,
                allow_hosts=self.allow_hosts,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                accept=_ACCEPT,
                verify=self.verify,
            )
        except FetchError as exc:
            raise DiscoveryError(str(exc)) from None
        return _Response(page.url, page.body, page.content_type)
