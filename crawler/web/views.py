"""What the pages and the JSON API show, as plain data, read from the state and the settings.

Every query is one of crawler/state.py's; the overview is `crawler status`'s report
(crawler/status.py), and the topic tester is `crawler topics test --recent`'s matcher.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler import status
from crawler.alerts.recipients import redact
from crawler.counters import COUNTERS_KEY, load_counters
from crawler.errors import QueryError
from crawler.items import item_document
from crawler.queue import Queue
from crawler.state import State
from crawler.topics import Matcher, Topic, parse_query
from crawler.web.prefilter import necessary

if TYPE_CHECKING:
    from crawler.config import Settings, TopicSettings

HOUR, DAY = 3600, 86400
CHART_HOURS = 72  # the overview's chart of items per hour
TOPIC_DAYS = 7  # matches per day on the topics page
TESTER_LIMIT = 100  # archived articles the topic tester matches by default (the newest)
TESTER_MAX = 2000  # ... and at most, when asked for more
HEALTH_ORDER = {"failing": 0, "error": 1, "overdue": 2, "never polled": 3, "ok": 4}


def reader(config: Settings) -> State:
    """The state database, read-only."""
    return State(config.output.state_path, readonly=True)


def report(config: Settings, state: State, now: float) -> dict[str, Any]:
    """`crawler status --json`'s report (in cluster mode, from Redis)."""
    return status.collect(config, now, None if config.cluster is not None else state)


def overview(config: Settings, state: State, now: float) -> dict[str, Any]:
    data = report(config, state, now)
    data["sources"] = sorted(
        data["sources"], key=lambda s: (HEALTH_ORDER.get(s["health"], 9), s["url"])
    )
    data["chart"] = hourly_chart(state.items_per_hour(now - CHART_HOURS * HOUR), now)
    counters = load_counters(state.meta(COUNTERS_KEY))
    prefix = "crawler/rejected/"
    data["counters"] = {
        "at": counters["at"],
        "drops": {
            key[len(prefix) :]: int(value)
            for key, value in sorted(counters["stats"].items())
            if key.startswith(prefix)
        },
    }
    return data


def hourly_chart(counts: dict[int, int], now: float, hours: int = CHART_HOURS) -> dict[str, Any]:
    """Bars of an inline SVG: one per hour, the newest on the right."""
    last = int(now // HOUR)
    values = [counts.get(hour, 0) for hour in range(last - hours + 1, last + 1)]
    top = max(values) or 1
    height = 60
    bars = [
        {
            "x": index * 10,
            "h": round(value * height / top, 1),
            "y": round(height - value * height / top, 1),
            "value": value,
            "label": _utc(float((last - hours + 1 + index) * HOUR), "%a %H:00"),
        }
        for index, value in enumerate(values)
    ]
    return {
        "bars": bars,
        "width": hours * 10,
        "height": height,
        "top": top,
        "total": sum(values),
        "hours": hours,
    }


def _utc(when: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(when, UTC).strftime(fmt)


def sources(config: Settings, state: State, now: float) -> list[dict[str, Any]]:
    """Each source of the settings with its health, schedule and items per day (7 days)."""
    per_source = state.items_by_source(now - 7 * DAY)
    every = {source.key: source.every for source in config.sources}
    rows = report(config, state, now)["sources"]
    for row in rows:
        row["every"] = every[row["url"]].total_seconds()
        row["items_per_day"] = round(per_source.get(row["url"], 0) / 7, 1)
    return rows


def topics(config: Settings, state: State, now: float) -> list[dict[str, Any]]:
    """Each topic with its query, alert settings and matches per day over TOPIC_DAYS days."""
    today = int(now // DAY)
    days = state.topic_days((today - TOPIC_DAYS + 1) * DAY)
    result = []
    for topic in config.topics:
        counts = days.get(topic.name, {})
        per_day: list[dict[str, Any]] = [
            {"day": _utc(float(day * DAY), "%Y-%m-%d"), "count": counts.get(day, 0)}
            for day in range(today - TOPIC_DAYS + 1, today + 1)
        ]
        result.append(
            {
                "name": topic.name,
                "query": topic.query,
                "stem": topic.stem,
                "min_count": topic.min_count,
                "alert": _alert(topic),
                "per_day": per_day,
                "total": sum(d["count"] for d in per_day),
            }
        )
    return result


def _alert(topic: TopicSettings) -> dict[str, Any] | None:
    alert = topic.alert
    if alert is None:
        return None
    every = alert.digest_every
    return {
        "to": [redact(recipient) for recipient in alert.to],  # never a secret of the URL
        "mode": alert.mode,
        "every": every.total_seconds() if every else None,
        "cron": alert.cron,
        "timezone": alert.timezone,
    }


def items(state: State, **filters: Any) -> list[dict[str, Any]]:
    return state.recent_items(**filters)


def item(config: Settings, state: State, item_id: str) -> dict[str, Any] | None:
    """An item with its clean text, its topics (matched again, for highlights) and who else
    reported it."""
    row = state.item(item_id)
    if row is None:
        return None
    record = state.archived_record(row["url"]) or _queued(config, item_id)
    row["record"] = record
    row["matches"] = matches(config, record) if record else []
    row["also_reported"] = [{"url": u, "source": s} for u, s in state.also_reported(item_id)]
    return row


def _queued(config: Settings, item_id: str) -> dict[str, Any] | None:
    """The item's file in the queue folder (new/ or cur/), once its archive copy is gone."""
    queue = Queue(config.output.queue_dir)
    for folder in ("new", "cur"):
        for queued in queue.files(folder):
            if queued.path.name.endswith(f".{item_id}.json"):
                return queued.read()
    return None


def archived(config: Settings, state: State, url: str) -> dict[str, Any] | None:
    """An archived article that may not have become an item, with the topics it matches."""
    record = state.archived_record(url)
    if record is None:
        return None
    return {"record": record, "matches": matches(config, record)}


def matches(config: Settings, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings' topics that `record` matches, with their terms and snippet."""
    if not config.topics:
        return []
    matcher = Matcher(Topic(t.name, t.query, t.stem, t.min_count) for t in config.topics)
    return [
        {"name": m.name, "terms": m.terms, "snippet": m.snippet}
        for m in matcher.match(item_document(record))
    ]


def search(state: State, text: str, *, since: float | None = None, limit: int = 50) -> Any:
    """Archived articles with every word of `text` (a trailing * for a prefix)."""
    expression = fts_expression(text)
    if not expression:
        return []
    return state.search_archive(expression, since=since, limit=limit)


def fts_expression(text: str) -> str:
    """Words -> an FTS5 expression that ANDs them, each quoted (no FTS5 syntax gets through)."""
    parts = []
    for word in text.split():
        prefix = word.endswith("*")
        word = word.strip("*").replace('"', '""')
        if word:
            parts.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(parts)


def try_query(
    state: State,
    query: str,
    since: float,
    *,
    stem: bool = False,
    every: bool = False,
    limit: int = TESTER_LIMIT,
) -> dict[str, Any]:
    """What `query` would have caught among the articles archived since `since`: each article
    with its terms and snippet, and each term's totals. The matcher runs on the newest `limit`
    articles that the full-text index says can match (crawler/web/prefilter.py), or with
    `every` (or a query the index cannot narrow) on the newest `limit` articles."""
    result: dict[str, Any] = {"query": query, "caught": [], "terms": {}, "error": None}
    try:
        parsed = parse_query(query)
    except QueryError as exc:
        result["error"] = str(exc)
        result["position"] = exc.position
        return result
    started = time.perf_counter()
    matcher = Matcher([Topic("query", query, stem=stem)])
    expression = None if every or stem else necessary(parsed.root)
    if expression is None:
        records = state.archived_newest(since, limit)
    else:
        records = state.archived_matching(expression, since, limit)
    terms: dict[str, dict[str, int]] = {}
    for item_id, record in records:
        for match in matcher.match(item_document(record)):
            result["caught"].append(
                {
                    "item_id": item_id,
                    "url": record["url"],
                    "title": record.get("title"),
                    "source": (record.get("source") or {}).get("name"),
                    "fetched_at": record.get("fetched_at"),
                    "terms": match.terms,
                    "snippet": match.snippet,
                }
            )
            for label, count in match.terms.items():
                total = terms.setdefault(label, {"articles": 0, "occurrences": 0})
                total["articles"] += 1
                total["occurrences"] += count
    result.update(
        terms=terms,
        scanned=len(records),
        limited=len(records) >= limit,
        index=expression,
        in_window=state.archive_size(since),
        seconds=round(time.perf_counter() - started, 3),
    )
    return result
