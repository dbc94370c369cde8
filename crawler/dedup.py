"""Where duplicates are decided: is this page a new story?

Four layers, cheapest first:

1. URL: every URL is normalised (`normalize_url`: scheme and host case, default ports, tracking
   parameters such as utm_*, fbclid and gclid, fragments, query order) before it is looked up or
   stored. `SeenUrlFilter` is Scrapy's duplicate filter backed by the state database, so a URL
   seen in any earlier run is never fetched again and memory stays bounded. A page's canonical
   URL (`<link rel=canonical>`, og:url) counts as seen too, but only within the page's own site
   (`site_canonical`: the same registrable domain): a canonical naming another outlet is a
   claim, kept in the item, that never marks that outlet's URL as seen nor drops its story.
2. Entry: a feed entry whose id or link was seen is not fetched again (crawler/spider.py,
   through `State.entry_seen`).
3. Exact: `content_hash` of the normalised body (crawler/fingerprint.py); the first article with
   a body owns it, claimed atomically (`State.claim_fingerprint`).
4. Near: the MinHash LSH index of crawler/neardup.py finds earlier bodies whose wording is near;
   one is the same story only if the facts the two carry agree (numbers, names, dates:
   `crawler.fingerprint.agreement`), so bulletins written from one template are not merged.

`Deduplicator` runs layers 1 (the canonical), 3 and 4 for an extracted page and owns the
near-duplicate index (loading, expiry, a rebuild when `dedup.near_threshold` changes); the Scrapy
pipeline (`DedupPipeline` in crawler/pipelines.py) only wraps it. Every duplicate is a
`Rejected` with `duplicate_of` (the item it copies) and JSON-ready `facts` for the decision
trail: the layer, the URL it duplicates, the similarity and the facts that agreed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import courlan

from crawler.fingerprint import agreement, content_hash, normalize_text
from crawler.items import Rejected
from crawler.neardup import Match, NearDuplicateIndex, signature
from crawler.signals import delivery_failed
from crawler.urls import normalize_url

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from crawler.config import DedupSettings
    from crawler.items import Page
    from crawler.state import State

__all__ = [
    "Deduplicator",
    "SeenUrlFilter",
    "content_hash",
    "normalize_text",
    "normalize_url",
    "page_urls",
    "site_canonical",
]

log = logging.getLogger("crawler.dedup")


def site_of(url: str) -> str:
    """The site a URL belongs to: its registrable domain ("bbc.co.uk" for news.bbc.co.uk), or
    its host without "www." where there is none (an IP address, localhost, an unknown
    suffix). courlan reads the public suffix list bundled with it: no network."""
    try:
        domain = courlan.extract_domain(url)
        return domain or (urlsplit(url).hostname or "").lower().removeprefix("www.")
    except ValueError:  # e.g. a broken IPv6 literal: no site
        return ""


def site_canonical(page_url: str, canonical: str | None) -> str | None:
    """The page's canonical URL, normalised, if it may stand for the page: on the page's own
    site. A canonical naming another site is a claim that never marks that URL as seen."""
    if not canonical:
        return None
    site = site_of(canonical)
    if not site or site != site_of(page_url):
        return None
    return normalize_url(canonical)


def page_urls(
    url: str, requested_url: str | None = None, canonical: str | None = None
) -> list[str]:
    """Every URL a page is known by, normalised: as linked, after redirects, and its canonical
    on its own site (`site_canonical`). These are the URLs marked seen."""
    urls = [normalize_url(u) for u in (requested_url, url) if u]
    own = site_canonical(url, canonical)
    if own is not None:
        urls.append(own)
    return list(dict.fromkeys(urls))


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


class Deduplicator:
    """Is this extracted page a new story? Layers 1 (canonical), 3 and 4 of the module
    docstring, and the near-duplicate index they share.

        dedup = Deduplicator(state, config.dedup)
        dedup.load()                 # rebuild the index from the signatures kept
        dedup.check(page)            # raises Rejected for a copy; else keeps its signature

    In one process pages are checked one at a time, so between a page's check and the
    recording of its decision no other page is checked; across workers the fingerprint claim
    and the shared index's lock make the check atomic.
    """

    def __init__(self, state: State, settings: DedupSettings) -> None:
        self.state = state
        self.settings = settings
        # loaded from the state database: its snapshot and the changes since (crawler/neardup.py)
        self.index: NearDuplicateIndex = state.near_duplicate_index(settings.near_threshold)

    def load(self) -> None:
        """At start: drop what is past `dedup.keep` (URLs, entries, signatures)."""
        self.expire()
        log.debug("near-duplicate index loaded signatures=%d", len(self.index))

    def save(self) -> None:
        """Keep a snapshot of the index, so that the next start loads it in one read."""
        self.index.save()

    def reloaded(self, settings: DedupSettings) -> None:
        """New settings: a new `near_threshold` rebuilds the index; `keep` is used at the next
        expiry."""
        threshold_changed = settings.near_threshold != self.settings.near_threshold
        self.settings = settings
        if threshold_changed:
            self.index = self.state.near_duplicate_index(settings.near_threshold)
            log.info("near-duplicate index rebuilt threshold=%s", settings.near_threshold)

    def expire(self) -> None:
        """Drop signatures past `dedup.keep` from the database and the index, and forget the
        URLs and entries of that age that no source lists any more."""
        cutoff = time.time() - self.settings.keep.total_seconds()
        self._forget(cutoff)
        for key in self.state.purge_signatures(cutoff):
            self.index.remove(key)

    def _forget(self, before: float) -> None:
        """The retention rule (`State.forget_seen`): decisions older than `before` that no
        source's last poll lists any more are forgotten."""
        gone = self.state.forget_seen(before)
        if any(gone.values()):
            log.info("forgot %s", " ".join(f"{k}={v}" for k, v in gone.items()))

    def check(self, page: Page) -> None:
        """Raise `Rejected` if the page repeats a story: its canonical URL (on its own site)
        was seen, its body was, or a body with near wording and the same facts was. Otherwise
        the page's body is claimed and its signature kept; `page.content_hash` is set."""
        article = page.article
        assert article is not None
        own = {normalize_url(page.requested_url), normalize_url(page.url)}
        canonical = site_canonical(page.url, article.canonical_url)
        if canonical is not None and canonical not in own and self.state.url_seen(canonical):
            raise Rejected(
                "duplicate-url",
                canonical,
                facts={"layer": "url", "duplicate_url": canonical},
            )
        page.content_hash = content_hash(article.text)
        owner = self.state.claim_fingerprint(page.content_hash, page.url)
        if owner is not None:
            item_id, first_url = owner
            self._also_reported(item_id, page)
            raise Rejected(
                "duplicate",
                f"same text as {first_url}",
                duplicate_of=item_id,
                facts={"layer": "exact", "duplicate_url": first_url, "similarity": 1.0},
            )
        sig = signature(article.title or "", article.text)
        agreed: dict[str, Any] = {}

        def same_facts(key: str, similarity: float) -> bool:
            if self.state.decided_not_queued(key):
                # the earlier body was not queued (off-topic, say): a version of it in other words
                # may match a topic, so it is judged on its own, not dropped as a copy
                return False
            earlier = self.state.signature_facts(key)
            if earlier is None or sig.facts is None:  # stored before facts were kept
                agreed[key] = None
                return True
            verdict = agreement(sig.facts, earlier)
            if not verdict.agree:
                log.debug(
                    "near wording, other facts url=%s similarity=%.2f missing=%s",
                    page.url,
                    similarity,
                    verdict.missing.to_json(),
                )
            agreed[key] = verdict.shared.to_json()
            return verdict.agree

        match = self.index.find_or_add(page.content_hash, sig, accept=same_facts)
        if match is None:  # kept by the index, in the state database
            return
        raise self._near_duplicate(page, match, agreed[match.key])

    def _near_duplicate(self, page: Page, match: Match, agreed: Any) -> Rejected:
        item_id, first_url = self.state.fingerprint_owner(match.key) or (None, None)
        self._also_reported(item_id, page)
        return Rejected(
            "near-duplicate",
            f"same story as {first_url or 'an expired item'} (similarity {match.similarity:.2f})",
            duplicate_of=item_id,
            facts={
                "layer": "near",
                "duplicate_url": first_url,
                "similarity": round(match.similarity, 3),
                "facts_agreed": agreed,  # null: the earlier body's facts are not known
            },
        )

    def _also_reported(self, item_id: str | None, page: Page) -> None:
        if item_id is not None:
            self.state.record_also_reported(item_id, page.url, page.source.display_name)
