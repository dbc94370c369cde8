"""`crawler explain URL`: the whole path of one page, from the decision trail (crawler/trail.py).

`explain(state, url)` returns the trail as data (what `--json` prints and a web page shows),
`render(trail)` as lines for people:

    https://example.org/a/caspian.html
      outcome: queued
      decided: 2026-12-02 07:40:02 UTC
      seen: 2026-12-02 07:40:01 UTC, feed entry of The Courier (feed https://example.org/rss.xml), entry 'Cargo ships' published 2026-12-02T06:22:03+00:00
      fetch: 2026-12-02 07:40:02 UTC, HTTP 200 (text/html)
      extraction: 142 words, title 'Cargo ships cross the Caspian', published 2026-12-02T06:22:03+00:00 (feed), language en
      duplicate: unique
      topic caspian-arms: matches; found Caspian 2, drone* 1; missing "artillery shells"
      topic bees: does not match; found honey 1; missing beekeepers
      queued: item 01JD..., file 20261202T074002339275Z.01JD....json
        alert caspian-arms to desk@example.org (immediate)
"""  # noqa: E501

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.dedup import normalize_url

if TYPE_CHECKING:
    from crawler.state import State


def explain(state: State, url: str) -> dict[str, Any] | None:
    """The decision trail of `url` (looked up normalised, as requested, final or canonical),
    with who else reported its item; None when crawler decided nothing under that URL (never
    seen, still waiting to be fetched, or forgotten after the retention period)."""
    key = normalize_url(url)
    trail = state.decision(key)
    if trail is None:
        return None
    trail = {"url": key, **trail}
    item_id = (trail.get("queued") or {}).get("item_id")
    if item_id:
        trail["also_reported"] = [
            {"url": u, "source": source} for u, source in state.also_reported(item_id)
        ]
    return trail


def render(trail: dict[str, Any]) -> str:
    """The trail as a few lines, in the order things happened."""
    lines = [trail["url"]]
    outcome = trail["outcome"]
    detail = trail.get("detail")
    lines.append(f"  outcome: {outcome}" + (f" ({detail})" if detail else ""))
    lines.append(f"  decided: {_when(trail.get('decided_at'))}")
    if earlier := trail.get("earlier"):
        lines.append(f"  earlier: {earlier['outcome']}" + _paren(earlier.get("detail")))
        if earlier.get("seen"):
            lines.append(f"  first seen: {_seen(earlier['seen'])}")
    if seen := trail.get("seen"):
        lines.append(f"  seen: {_seen(seen)}")
    if fetch := trail.get("fetch"):
        lines.append(f"  fetch: {_fetch(fetch, trail)}")
    if extraction := trail.get("extraction"):
        lines.append(f"  extraction: {_extraction(extraction, trail.get('canonical_url'))}")
    if duplicate := trail.get("duplicate"):
        lines.append(f"  duplicate: {_duplicate(duplicate)}")
    if "topics" in trail:
        if not trail["topics"]:
            lines.append("  topics: none configured (every article is kept)")
        for verdict in trail["topics"]:
            lines.append(f"  topic {verdict['topic']}: {_topic(verdict)}")
            plain = {f"{term}: not found" for term in verdict.get("missing", [])}
            lines.extend(
                f"    failed: {reason}"
                for reason in verdict.get("failed", [])
                if reason not in plain
            )
        if trail.get("topics_left_out"):
            lines.append(f"  {trail['topics_left_out']} more topic(s) do not match (not listed)")
    elif outcome != "queued":
        lines.append("  topics: not matched (dropped before)")
    if facts := trail.get("facts"):
        lines.append(f"  facts: {_facts(facts)}")
    if queued := trail.get("queued"):
        lines.append(
            f"  queued: item {queued['item_id']}, file {queued['file']}"
            + (" (backfill: for a topic added later)" if queued.get("backfill") else "")
        )
        for alert in queued.get("alerts", []):
            lines.append(f"    alert {alert['topic']} to {alert['recipient']} ({alert['mode']})")
        if not queued.get("alerts"):
            lines.append("    no alert rows")
    for other in trail.get("also_reported", []):
        lines.append(f"  also reported by: {other['source'] or '-'} {other['url']}")
    return "\n".join(lines)


def _when(at: float | None) -> str:
    if at is None:
        return "unknown"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _paren(text: str | None) -> str:
    return f" ({text})" if text else ""


def _seen(seen: dict[str, Any]) -> str:
    source = seen.get("source") or {}
    text = f"{_when(seen.get('at'))}, {seen.get('via')} of {source.get('name')}"
    text += f" ({source.get('kind')} {source.get('url')})"
    if entry := seen.get("entry"):
        text += f", entry {entry.get('title')!r}"
        if entry.get("published"):
            text += f" published {entry['published']}"
    if seen.get("found_on"):
        text += f", linked from {seen['found_on']}"
    return text


def _fetch(fetch: dict[str, Any], trail: dict[str, Any]) -> str:
    text = _when(fetch.get("at"))
    if fetch.get("status"):
        text += f", HTTP {fetch['status']}"
    if fetch.get("content_type"):
        text += f" ({fetch['content_type']})"
    if fetch.get("error"):
        text += f", failed: {fetch['error']}"
    final = trail.get("final_url")
    if final and normalize_url(final) != trail["url"]:
        text += f", ended at {final}"
    return text


def _extraction(extraction: dict[str, Any], canonical: str | None) -> str:
    text = f"{extraction.get('words')} words, title {extraction.get('title')!r}"
    published = extraction.get("published")
    text += f", published {published}" if published else ", no date"
    if published and extraction.get("published_source"):
        text += f" ({extraction['published_source']})"
    if extraction.get("language"):
        text += f", language {extraction['language']}"
    if canonical:
        text += f", canonical {canonical}"
    return text


def _duplicate(duplicate: dict[str, Any]) -> str:
    verdict = duplicate.get("verdict")
    if verdict == "unique":
        return "unique"
    text = f"{verdict} of item {duplicate.get('of') or '(none queued)'}"
    text += _paren(duplicate.get("detail"))
    if duplicate.get("facts"):
        text += f"; {_facts(duplicate['facts'])}"
    if duplicate.get("overridden"):
        text += "; delivered anyway (crawler deliver)"
    return text


def _topic(verdict: dict[str, Any]) -> str:
    found = ", ".join(f"{term} {n}" for term, n in verdict.get("found", {}).items()) or "nothing"
    missing = ", ".join(verdict.get("missing", [])) or "nothing"
    word = "matches" if verdict.get("matched") else "does not match"
    return f"{word}; found {found}; missing {missing}"


def _facts(facts: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in facts.items())
