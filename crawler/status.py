"""`crawler status`: per-source health, queue depth and whether the daemon is alive.

Reads the state database and the queue folder only, so it works while the daemon runs.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Any

from crawler.alerts.recipients import redact
from crawler.cluster import report_state
from crawler.config import Settings
from crawler.queue import Queue
from crawler.state import State

FAILING_AFTER = 3  # consecutive errors before a source is flagged
OVERDUE_AFTER = 120.0  # seconds past its next poll before a source of a live daemon is flagged
HEARTBEAT_STALE = 60.0  # seconds without a heartbeat before the daemon counts as gone
DECISIONS_SINCE = 24 * 3600.0  # the decisions counted: those of the last day


def collect(
    config: Settings, now: float | None = None, state: State | None = None
) -> dict[str, Any]:
    """Everything `crawler status` shows, as plain data (what `--json` prints); from `state`
    if given (a read-only one, for `crawler serve`), else from the state `report_state` opens."""
    now = time.time() if now is None else now
    queue = Queue(config.output.queue_dir)
    cluster = None
    if config.cluster is not None:  # the shared state; nothing of this process's own
        from crawler.cluster.leases import cluster_report

        cluster = cluster_report(config, now)
    opened = report_state(config) if state is None else nullcontext(state)
    with opened as state:
        daemon = _daemon(state.meta("daemon"), now)
        if cluster is not None:
            daemon = {"running": bool(cluster["workers"]), "workers": len(cluster["workers"])}
        rows = {row.url: row for row in state.sources()}
        counts = state.counts()
        outbox = state.outbox_counts()
        also_reported = state.recent_also_reported()
        decided = state.decision_counts(now - DECISIONS_SINCE)
        failed = [
            {
                "topic": r.topic,
                "recipient": redact(r.recipient),
                "item_id": r.item_id,
                "error": r.last_error,
            }
            for r in state.failed_alerts()
        ]
    sources = []
    for source in config.sources:
        kind, url = source.kind, source.key
        row = rows.get(url)
        entry: dict[str, Any] = {"kind": kind, "url": url, "name": source.name}
        if row is not None:
            entry.update(
                name=source.name or row.name,
                last_poll_at=row.last_polled_at,
                last_status=row.last_status,
                last_new_at=row.last_new_at,
                errors=row.error_count,
                last_error=row.last_error,
                next_poll_at=row.next_poll_at,
            )
        entry["health"] = _health(entry, daemon["running"], now)
        sources.append(entry)
    report = {
        "daemon": daemon,
        "queue": {"new": queue.depth(), "cur": len(queue.files("cur")), "dir": str(queue.root)},
        "items_queued": counts["items"],
        "state": {
            "database_bytes": counts["database_bytes"],
            "free_bytes": counts["free_bytes"],
            "seen_urls": counts["seen_urls"],
            "seen_entries": counts["seen_entries"],
            "listed": counts["listed"],
        },
        "also_reported": also_reported,
        "last_24h": {
            "queued": decided.pop("queued", 0),
            "dropped": decided,  # by reason, most first
        },
        "outbox": {**outbox, "recent_failures": failed},
        "sources": sources,
    }
    if cluster is not None:
        report["cluster"] = cluster
    return report


def _daemon(value: str | None, now: float) -> dict[str, Any]:
    if not value:
        return {"running": False}
    pid_text, beat_text = value.split()
    pid, beat = int(pid_text), float(beat_text)
    alive = now - beat < HEARTBEAT_STALE and _process_exists(pid)
    return {"running": alive, "pid": pid, "heartbeat_at": beat}


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _health(entry: dict[str, Any], daemon_running: bool, now: float) -> str:
    if entry.get("last_poll_at") is None:
        return "never polled"
    if entry.get("errors", 0) >= FAILING_AFTER:
        return "failing"
    if entry.get("errors", 0) > 0:
        return "error"
    next_poll = entry.get("next_poll_at")
    if daemon_running and next_poll is not None and now - next_poll > OVERDUE_AFTER:
        return "overdue"
    return "ok"


def render(report: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    daemon = report["daemon"]
    if "cluster" in report:
        head = _cluster_lines(report["cluster"], now)
    elif daemon["running"]:
        head = (
            f"daemon: running (pid {daemon['pid']}, heartbeat {_ago(daemon['heartbeat_at'], now)})"
        )
    else:
        head = "daemon: not running"
    queue = report["queue"]
    lines = [
        head,
        f"queue: {queue['new']} waiting in new/, {queue['cur']} taken (cur/)  [{queue['dir']}]",
        _outbox_line(report["outbox"]),
        _state_line(report["state"]),
        _decisions_line(report["last_24h"]),
    ]
    for failure in report["outbox"]["recent_failures"][:5]:
        lines.append(
            f"  failed alert {failure['topic']} to {failure['recipient']}: {failure['error']}"
        )
    if report["also_reported"]:
        lines.append("also reported by (latest):")
    for entry in report["also_reported"]:
        outlets = ", ".join(r["source"] or r["url"] for r in entry["also_reported"])
        lines.append(f"  {entry['title'] or entry['item_id']}: {outlets}")
    lines.append(f"sources ({len(report['sources'])}):")
    for s in report["sources"]:
        name = f" ({s['name']})" if s.get("name") else ""
        lines.append(f"  [{s['health']}] {s['kind']} {s['url']}{name}")
        if s.get("last_poll_at") is None:
            continue
        status = s.get("last_status") or "-"
        lines.append(
            f"      last poll {_ago(s['last_poll_at'], now)} (HTTP {status}), "
            f"last new item {_ago(s.get('last_new_at'), now)}, "
            f"next poll {_ago(s.get('next_poll_at'), now)}"
        )
        if s.get("errors"):
            lines.append(f"      {s['errors']} consecutive error(s), last: {s['last_error']}")
    return "\n".join(lines)


def _cluster_lines(cluster: dict[str, Any], now: float) -> str:
    workers = cluster["workers"]
    lines = [
        f"cluster: {len(workers)} live worker(s), frontier {cluster['frontier']} request(s) "
        f"waiting  [{cluster['redis']}]"
    ]
    for w in workers:
        lines.append(
            f"  worker {w['name']} (pid {w.get('pid', '?')}): heartbeat "
            f"{_ago(w.get('heartbeat_at'), now)}, {w.get('sources_leased', 0)} source(s) leased, "
            f"{w.get('pages_per_minute', 0):.0f} pages/min"
        )
    return "\n".join(lines)


def _decisions_line(day: dict[str, Any]) -> str:
    dropped = day["dropped"]
    reasons = ", ".join(f"{reason} {n}" for reason, n in dropped.items())
    line = f"last 24h: {day['queued']} queued, {sum(dropped.values())} dropped"
    return f"{line} ({reasons})" if reasons else line


def _outbox_line(outbox: dict[str, Any]) -> str:
    return (
        f"alert outbox: {outbox['pending']} waiting, {outbox['sent']} sent, "
        f"{outbox['failed']} failed"
    )


def _state_line(state: dict[str, Any]) -> str:
    return (
        f"state database: {state['database_bytes'] / 1024**2:.1f} MiB "
        f"({state['free_bytes'] / 1024**2:.1f} MiB of it free for reuse), "
        f"{state['seen_urls']} seen URLs, {state['seen_entries']} feed entries, "
        f"{state['listed']} still listed by their sources"
    )


def _ago(when: float | None, now: float) -> str:
    if when is None:
        return "never"
    delta = now - when
    words = _span(abs(delta))
    return f"{words} ago" if delta >= 0 else f"in {words}"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
