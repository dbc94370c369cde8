"""The decision trail: what happened to each page, kept for `crawler explain`.

Every page crawler was linked to ends in one decision (an *outcome* with its reason): queued,
a duplicate of an item, too old, no topic matched, too short, not html, refused by the
address guard or by robots.txt, fetch failed... The spider and the pipelines gather the parts
of the page's path into a JSON-ready dict (`trail`) as it goes, and `record` stores it in the
state database (`State.record_decision`: one row per URL, replaced when the URL is decided
again) and, for a drop, logs one INFO line with stable keys:

    dropped reason=off-topic url=https://example.org/a.html detail=no topic matched

The trail's parts, each present once the page got that far:

    seen        {"at", "via" ("feed entry", "sitemap", "section page", "deliver"), "source":
                 {"kind", "url", "name"}, "entry": {"key", "title", "published"},
                 "found_on": the section page}
    fetch       {"at", "status", "content_type"} or {"error", "status"}
    extraction  {"words", "title", "published", "published_source", "language"}
    duplicate   {"verdict": "unique" | "duplicate" | "near-duplicate" | "duplicate-url",
                 "of": item id, "detail", "facts", "overridden": delivered anyway}
    topics      [{"topic", "matched", "found": {term: count}, "missing": [term], "failed"}]
                (absent: the page was dropped before topics were matched); every
                matched topic, and up to TOPIC_VERDICTS missed ones
    topics_left_out  how many missed topics are not listed (none of their terms, mostly)
    queued      {"item_id", "file", "alerts": [{"topic", "recipient", "mode"}]}
    facts       the structured details of any other drop (`Rejected.facts`), e.g. the date
                and its source for `too-old`
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from crawler.dedup import normalize_url

if TYPE_CHECKING:
    from crawler.items import Page, Rejected
    from crawler.sources import SourceRef
    from crawler.sources.feeds import FeedEntry
    from crawler.state import Alert, State
    from crawler.topics import Explanation

log = logging.getLogger("crawler.trail")

DUPLICATE_OUTCOMES = ("duplicate-url", "duplicate", "near-duplicate")
# Topic verdicts kept per page beyond the topics it matched (those with terms found first);
# with hundreds of topics the rest are counted (`topics_left_out`), not listed.
TOPIC_VERDICTS = 50
VIA = {"feed": "feed entry", "sitemap": "sitemap", "site": "section page"}


def seen(
    source: SourceRef,
    entry: FeedEntry | None,
    *,
    found_on: str | None = None,
    via: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Where and when a link to the page was found (kept in the request's meta)."""
    part: dict[str, Any] = {
        "at": time.time() if now is None else now,
        "via": via or VIA.get(source.kind, source.kind),
        "source": source.as_json(),
    }
    if entry is not None:
        part["entry"] = {
            "key": entry.key,
            "title": entry.title,
            "published": entry.published.isoformat() if entry.published else None,
        }
    if found_on:
        part["found_on"] = found_on
    return part


def page_trail(page: Page) -> dict[str, Any]:
    """The trail of a fetched page: the parts gathered on the way, the fetch, the extraction."""
    trail: dict[str, Any] = {
        **page.trail,
        "requested_url": page.requested_url,
        "final_url": page.url,
        "fetch": {
            "at": page.fetched_at.timestamp(),
            "status": page.status,
            "content_type": page.content_type,
        },
    }
    article = page.article
    if article is not None:
        published = page.published
        record = page.record or {}
        trail["canonical_url"] = article.canonical_url
        trail["extraction"] = {
            "words": len(article.text.split()),
            "title": article.title,
            "published": published.isoformat() if published else None,
            "published_source": record.get(
                "published_source", getattr(article, "published_source", None)
            ),
            "language": article.language,
        }
    return trail


def topic_verdicts(explanations: list[Explanation]) -> list[dict[str, Any]]:
    """Each topic's verdict for the trail: the terms found (with counts) and missing, and the
    clauses that failed beyond a missing term (`NOT x: found 2`, `(a OR b): none found`). The
    query itself is in the settings; leaving it out keeps a page's trail small."""
    verdicts = []
    for e in explanations:
        missing = [term for term, n in e.terms.items() if not n]
        plain = {f"{term}: not found" for term in missing}
        verdicts.append(
            {
                "topic": e.topic,
                "matched": e.matched,
                "found": {term: n for term, n in e.terms.items() if n},
                "missing": missing,
                "failed": [reason for reason in e.failed if reason not in plain],
            }
        )
    return verdicts


def duplicate_verdict(rejected: Rejected, *, overridden: bool = False) -> dict[str, Any]:
    return {
        "verdict": rejected.outcome,
        "of": rejected.duplicate_of,
        "detail": rejected.detail,
        "facts": rejected.facts,
        **({"overridden": True} if overridden else {}),
    }


def queued(item: dict[str, Any], file: str, alerts: list[Alert]) -> dict[str, Any]:
    return {
        "item_id": item["id"],
        "file": file,
        "topics": [t["name"] for t in item["topics"]],
        "alerts": [{"topic": a.topic, "recipient": a.recipient, "mode": a.mode} for a in alerts],
    }


def rejected_trail(page: Page, rejected: Rejected) -> dict[str, Any]:
    """The trail of a page a pipeline rejected."""
    trail = page_trail(page)
    if rejected.outcome in DUPLICATE_OUTCOMES:
        trail["duplicate"] = duplicate_verdict(rejected)  # with its facts
    elif rejected.facts:
        trail["facts"] = rejected.facts
    return trail


def record(
    state: State,
    url: str,
    outcome: str,
    trail: dict[str, Any],
    *,
    detail: str = "",
    stats: Any = None,
    logged: bool = False,
) -> None:
    """Store a decision on the page linked as `url`; a drop is counted in the crawl's stats
    (`crawler/dropped/<outcome>`, summed up by `crawler once`) and is one INFO line, unless
    it was `logged` already (a failed fetch has its own warning line). A failed write is one
    warning: the trail is lost, the decision itself stands."""
    key = normalize_url(url)
    final = trail.get("final_url")
    canonical = trail.get("canonical_url")
    if outcome != "queued":
        if not logged:
            log.info("dropped reason=%s url=%s detail=%s", outcome, url, detail or "-")
        if stats is not None:
            stats.inc_value(f"crawler/dropped/{outcome}")
    try:
        state.record_decision(
            key,
            outcome,
            trail,
            detail=detail or None,
            final_url=normalize_url(final) if final else None,
            canonical_url=normalize_url(canonical) if canonical else None,
        )
    except state.errors as exc:
        log.warning("decision not recorded url=%s error=%s", url, exc)


def record_backfill(
    state: State, article: dict[str, Any], item: dict[str, Any], file: str, alerts: list[Alert]
) -> None:
    """An archived article (its item record) queued for a topic added later (backfill, in
    crawler/archive.py): its trail becomes "queued", keeping its path and earlier outcome."""
    earlier = state.decision(normalize_url(article["url"])) or {}
    path = {k: v for k, v in earlier.items() if k not in ("decided_at", "outcome", "detail")}
    if earlier:
        path["earlier"] = {k: earlier[k] for k in ("outcome", "detail", "decided_at")}
    path["queued"] = {**queued(item, file, alerts), "backfill": True}
    path.setdefault("final_url", article["url"])
    record(state, path.get("requested_url") or article["url"], "queued", path)
