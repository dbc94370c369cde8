"""Where duplicates are decided.

Three layers, cheapest first:

1. URL: every URL is normalised (`normalize_url`: scheme and host case, default ports, tracking
   parameters such as utm_*, fbclid and gclid, fragments, query order) before it is looked up or
   stored; a page's canonical URL counts as seen too. `SeenUrlFilter` is Scrapy's duplicate filter
   backed by the state database, so a URL seen in any earlier run is never fetched again and
   memory stays bounded.
2. Exact: `content_hash` of the normalised body; the first article with a body owns it.
3. Near: the step after the exact hash in `DedupPipeline` (crawler/pipelines.py) is where
   near-duplicate detection (MinHash LSH over word shingles) plugs in.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import unicodedata
from collections import OrderedDict
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit, urlunsplit

import courlan

from crawler.signals import delivery_failed

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from crawler.state import State

_WORDS = re.compile(r"\w+")
log = logging.getLogger("crawler.dedup")


def normalize_url(url: str) -> str:
    """The form of a URL used for every 'seen' decision.

    Lower-case scheme and host, no default port, no fragment, tracking parameters removed and the
    remaining query sorted. A URL that cannot be parsed is returned stripped, unchanged otherwise.
    """
    url = url.strip()
    try:
        normal = courlan.normalize_url(url, strict=False)
    except (ValueError, AttributeError):
        return url
    parts = urlsplit(normal)
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def normalize_text(text: str) -> str:
    """Body text reduced to what makes two copies of a story equal: words, case- and
    accent-folded, joined by single spaces."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return " ".join(_WORDS.findall(folded))


def content_hash(text: str) -> str:
    """Exact fingerprint of a body: SHA-256 of its normalised text."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


class SeenUrlFilter:
    """Scrapy duplicate filter (DUPEFILTER_CLASS) backed by the state database.

    A request is a duplicate when its normalised URL was decided in any run (the state database)
    or was requested by this process within the last `IN_FLIGHT_TTL` seconds, so a page whose
    fetch failed for a temporary reason is tried again after that time. The in-memory part is
    bounded, so a daemon that runs for months does not grow; requests with dont_filter (feed
    polls, section pages) never reach this filter.
    """

    IN_FLIGHT_MAX = 100_000
    IN_FLIGHT_TTL = 3600.0

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._in_flight: OrderedDict[str, float] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        dupefilter = cls(crawler)
        crawler.signals.connect(dupefilter.forget, signal=delivery_failed)
        return dupefilter

    def forget(self, urls: list[str]) -> None:
        """Let these (normalised) URLs be requested again at once."""
        for url in urls:
            self._in_flight.pop(url, None)

    @property
    def _state(self) -> State:
        state: State = self.crawler.spider.state  # type: ignore[union-attr]
        return state

    def request_seen(self, request: Request) -> bool:
        url = normalize_url(request.url)
        now = time.monotonic()
        started = self._in_flight.get(url)
        if started is not None and now - started < self.IN_FLIGHT_TTL:
            return True  # this process requested it lately
        if self._state.url_seen(url) or not self._claim(url):
            return True
        self._in_flight[url] = now
        self._in_flight.move_to_end(url)
        while len(self._in_flight) > self.IN_FLIGHT_MAX:
            self._in_flight.popitem(last=False)
        return False

    def _claim(self, url: str) -> bool:
        """Take `url` for this process to fetch; False when another process fetches it."""
        return True

    def open(self) -> None:
        return None

    def close(self, reason: str) -> None:
        self._in_flight.clear()

    def log(self, request: Request, spider: object) -> None:
        redirects = request.meta.get("redirect_urls")
        if redirects:  # a redirect back to a page already on its way: a loop
            source = request.meta.get("source")
            log.warning(
                "page failed source=%s url=%s error=redirect loop (%s)",
                getattr(source, "url", "-"),
                redirects[0],
                " -> ".join([*redirects, request.url]),
            )
            self.crawler.stats.inc_value("crawler/page_errors")  # type: ignore[union-attr]
            return
        self.crawler.stats.inc_value("crawler/already_seen")  # type: ignore[union-attr]
