"""Delivering an item: the one way an item enters the queue folder and the state database.

The file is written first (tmp/, fsync, link into new/), then handed to any other sink (the
Redis stream in cluster mode), then the item is recorded with its
URLs, fingerprint and alert rows in one durable commit. Used by the queue pipeline and by
backfill.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.alerts.sender import alert_rows
from crawler.errors import QueueError
from crawler.state import ItemRecord

if TYPE_CHECKING:
    from crawler.config import AlertSettings
    from crawler.queue import Queue
    from crawler.state import State

log = logging.getLogger("crawler.queue")


def deliver(
    queue: Queue,
    state: State,
    item: dict[str, Any],
    alerts: dict[str, AlertSettings],
    *,
    urls: list[str],
    entry: tuple[int, str] | None = None,
) -> Path:
    """Put an item into the queue folder, then record it with its alert rows in one commit.

    Raises QueueError when either fails (a full disk, an I/O error); the item is then neither
    in new/ nor recorded, so it is delivered when its page is fetched again."""
    path = queue.put(item)
    state.publish(item)
    try:
        state.record_article(
            urls=urls,
            outcome="queued",
            content_hash=item["content_hash"],
            entry=entry,
            item=ItemRecord.from_item(item),
            alerts=alert_rows(item, alerts),
        )
    except state.errors as exc:  # the database, or Redis in cluster mode: nothing recorded
        if not queue.withdraw(path):
            # A consumer took it already: it was delivered, and is recorded on the next start.
            log.error("item delivered but not recorded id=%s file=%s", item["id"], path.name)
        raise QueueError(f"cannot record item {item['id']}: {exc}") from exc
    return path
