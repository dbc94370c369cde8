"""The outbox sender: turns due outbox rows into messages and marks them only once delivered.

Rows are written by the queue pipeline in the same transaction that records their item (see
`crawler.state.State.record_article`), one per (topic, item, recipient), so an item is never
sent twice to one recipient for one topic. A recipient is an email address, an Apprise URL or
a signed webhook (crawler/alerts/recipients.py); crawler/alerts/dispatch.py builds and sends
the message for its kind. `Sender.send_due` runs on the daemon's scheduler every few seconds and
at the end of `crawler once`:

- immediate alerts go out at the next tick, one message per topic and recipient per batch (a
  chat message lists `max_items` of them and counts the rest);
- a digest goes out when its interval or cron time (APScheduler's CronTrigger, in the alert's
  time zone) has come since the last one, with every waiting item inline;
- a temporary failure (SMTP 4xx, HTTP 408/429/5xx, refused connection, timeout, any Apprise
  failure) is retried with exponential back-off, or after the receiver's Retry-After; Apprise
  failures at most `APPRISE_ATTEMPTS` times. A permanent one (SMTP 5xx, other HTTP 4xx) marks
  the rows failed, logged and shown by `crawler status`;
- which rows make up a message, and so its key (Message-ID, webhook Idempotency-Key), is fixed
  before its first attempt: a retry sends that same message again. When a server accepted a
  message but its reply was lost (a timeout after the final "."), the copy carries the same
  Message-ID, which mail servers and readers use to drop it; the file transport writes it once;
  a webhook receiver drops a key it has seen.

In cluster mode the outbox is in Redis (crawler/cluster/outbox.py) and one worker sends at a
time: `send_due` takes the state's send lock, or leaves the tick to the worker that holds it.
The lock is renewed before each message and expires after three mail timeouts, so when the
sending worker dies another takes over and sends what was left, each message with its key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from ulid import ULID

from crawler.alerts.dispatch import Dispatch, Message, shown
from crawler.alerts.message import AlertItem, sample_highlights
from crawler.alerts.recipients import recipient_kind
from crawler.alerts.transports import (
    FileTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
)
from crawler.config import AlertSettings, Settings, smtp_password
from crawler.state import Alert, OutboxRow, SendLock, State

log = logging.getLogger("crawler.alerts")

RETRY_FIRST = 60.0  # seconds before the first retry of a temporary failure
RETRY_MAX = 3600.0  # the longest wait between retries
CHAT_BATCH = 1000  # rows one chat message may stand for (it lists max_items of them)
SEND_LOCK_SENDS = 3  # the send lock outlives this many mail timeouts without renewal


def transport_for(config: Settings) -> Transport:
    mail = config.mail
    if mail.transport == "file":
        return FileTransport(config.output.mail_dir)
    return SmtpTransport(
        host=mail.host,
        port=mail.port,
        security=mail.security,
        username=mail.username,
        password=smtp_password(),
        timeout=mail.timeout.total_seconds(),
    )


def alert_payload(item: dict[str, Any], topic: str, *, record: bool = False) -> str:
    """What an outbox row keeps of a queued item for the message (JSON): the fields a message
    shows, the matcher's highlights in the snippet, and with `record` (for a webhook) the whole
    item as written to the queue folder."""
    match = next((t for t in item["topics"] if t["name"] == topic), {"terms": [], "snippet": ""})
    payload = {
        "item_id": item["id"],
        "title": item["title"] or item["url"],
        "url": item["url"],
        "source_name": item["source"]["name"],
        "published": item["published"],
        "snippet": match["snippet"],
        "terms": match["terms"],
        "highlights": match.get("highlights", []),
    }
    if record:
        payload["item"] = item
    return json.dumps(payload, ensure_ascii=False)


def alert_rows(item: dict[str, Any], alerts: dict[str, AlertSettings]) -> list[Alert]:
    """The outbox rows for a queued item: per matched topic that has alerts, per recipient
    (a webhook's row carries the whole item)."""
    rows = []
    for topic in item["topics"]:
        alert = alerts.get(topic["name"])
        if alert is None:
            continue
        payload = alert_payload(item, topic["name"])
        full = None
        for to in alert.to:
            if recipient_kind(alert.target(to)) == "webhook":
                full = full or alert_payload(item, topic["name"], record=True)
                rows.append(Alert(topic["name"], to, alert.mode, full))
            else:
                rows.append(Alert(topic["name"], to, alert.mode, payload))
    return rows


def digest_due(alert: AlertSettings, last: float, now: float) -> bool:
    """Has the digest's interval or cron time come since `last`?"""
    if alert.cron:
        trigger = CronTrigger.from_crontab(alert.cron, timezone=alert.timezone)
        previous = datetime.fromtimestamp(last, UTC)
        upcoming = trigger.get_next_fire_time(None, previous)
        return upcoming is not None and upcoming.timestamp() <= now
    every = alert.digest_every
    return every is not None and now - last >= every.total_seconds()


class Sender:
    def __init__(self, config: Settings, state: State, transport: Transport | None = None) -> None:
        self.config = config
        self.state = state
        self.transport = transport or transport_for(config)
        self._lock = asyncio.Lock()

    def reload(self, config: Settings) -> None:
        self.config = config
        self.transport = transport_for(config)

    @property
    def dispatch(self) -> Dispatch:
        return Dispatch(self.config, self.transport)

    async def send_due(self, now: float | None = None, *, flush: bool = False) -> int:
        """Send every message that is due (with `flush`, digests too, whatever their time);
        returns how many were delivered."""
        async with self._lock:  # one sender at a time, even if ticks overlap
            lock = self.state.send_lock(SEND_LOCK_SENDS * self.config.mail.timeout.total_seconds())
            if not lock.acquire():
                return 0  # another worker of the cluster is sending
            try:
                return await self._send_due(lock, now, flush)
            finally:
                lock.release()

    async def _send_due(self, lock: SendLock, now: float | None, flush: bool) -> int:
        now = time.time() if now is None else now
        alerts = {t.name: t.alert for t in self.config.topics if t.alert is not None}
        rows = sorted(
            (r for r in self.state.pending_alerts(now) if r.topic in alerts),
            key=lambda r: (r.topic, r.recipient, r.id),
        )
        delivered = 0
        for topic, topic_rows in itertools.groupby(rows, key=lambda r: r.topic):
            alert = alerts[topic]
            batch = list(topic_rows)
            if not (flush or self._ready(topic, alert, batch, now)):
                continue
            for recipient, mine in itertools.groupby(batch, key=lambda r: r.recipient):
                size = alert.max_items
                if recipient_kind(alert.target(recipient)) == "apprise":
                    size = CHAT_BATCH  # one chat message lists max_items, then "N more"
                for message in self._messages(list(mine), size):
                    if not lock.keep():
                        log.warning("alert sending handed over: the send lock expired")
                        return delivered
                    if not await self._send(topic, alert, recipient, message, now):
                        break
                    delivered += 1
            if alert.mode == "digest":
                self.state.set_meta(f"digest:{topic}", f"{now:.3f}")
        return delivered

    async def send_test(self, topic: str) -> list[tuple[str, str, bool]]:
        """One sample message for `topic` to each of its recipients, one after the other;
        returns (recipient shown redacted, its answer, delivered) for each."""
        alert = next(t.alert for t in self.config.topics if t.name == topic and t.alert)
        snippet = (
            "This is a test message sent by `crawler alerts test`. Real alerts list the "
            "matching articles here, with the matched terms highlighted."
        )
        sample = AlertItem(
            item_id="sample",
            title=f"Test alert for {topic}: crawler can reach you",
            url="https://example.org/crawler-test",
            source_name="crawler",
            published=datetime.now(UTC),
            snippet=snippet,
            highlights=sample_highlights(snippet, "test"),
        )
        record = {
            "schema": 1,
            "id": "sample",
            "url": sample.url,
            "title": sample.title,
            "published": sample.published.isoformat() if sample.published else None,
            "source": {"kind": "feed", "url": sample.url, "name": "crawler"},
            "topics": [{"name": topic, "terms": ["test"], "snippet": snippet}],
        }
        answers = []
        for recipient in alert.to:
            message = Message(topic, alert, recipient, [sample], [record], f"test-{ULID()}")
            try:
                answer = await asyncio.to_thread(self.dispatch.send, message)
            except (TemporaryFailure, PermanentFailure) as exc:
                answers.append((shown(alert, recipient), str(exc), False))
            else:
                answers.append((shown(alert, recipient), answer, True))
        return answers

    def _messages(self, rows: list[OutboxRow], max_items: int) -> list[list[OutboxRow]]:
        """The messages for one recipient's waiting rows: first those already tried, each as it
        was, then the new rows in messages of at most `max_items`, each given its key."""
        tried: dict[str, list[OutboxRow]] = {}
        fresh = []
        for row in rows:
            if row.message_key:
                tried.setdefault(row.message_key, []).append(row)
            else:
                fresh.append(row)
        messages = list(tried.values())
        for start in range(0, len(fresh), max_items):
            chunk = fresh[start : start + max_items]
            key = str(ULID())
            self.state.assign_message([row.id for row in chunk], key)
            messages.append([dataclasses.replace(row, message_key=key) for row in chunk])
        return messages

    def _ready(self, topic: str, alert: AlertSettings, rows: list[OutboxRow], now: float) -> bool:
        if alert.mode == "immediate" or any(row.attempts for row in rows):
            return True  # immediate, or a digest that already came due and is being retried
        last = self.state.meta(f"digest:{topic}")
        since = float(last) if last else (self.state.oldest_pending_alert(topic) or now)
        return digest_due(alert, since, now)

    async def _send(
        self,
        topic: str,
        alert: AlertSettings,
        recipient: str,
        rows: Sequence[OutboxRow],
        now: float,
    ) -> bool:
        payloads = [json.loads(row.payload) for row in rows]
        message = Message(
            topic,
            alert,
            recipient,
            [self._item(data) for data in payloads],
            [data.get("item") or {"id": data["item_id"]} for data in payloads],
            rows[0].message_key,
        )
        ids = [row.id for row in rows]
        who = shown(alert, recipient)
        try:
            await asyncio.to_thread(self.dispatch.send, message)
        except TemporaryFailure as exc:
            attempts = max(row.attempts for row in rows) + 1
            if exc.attempts_limit is not None and attempts >= exc.attempts_limit:
                error = f"{exc} (gave up after {attempts} attempts)"
                self.state.alerts_failed(ids, error)
                log.error("alert failed topic=%s to=%s error=%s", topic, who, error)
                return False
            wait = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
            if exc.retry_after is not None:
                wait = min(max(exc.retry_after, 1.0), RETRY_MAX)
            self.state.alerts_deferred(ids, str(exc), now + wait)
            log.warning(
                "alert deferred topic=%s to=%s retry_in=%.0fs error=%s", topic, who, wait, exc
            )
            return False
        except PermanentFailure as exc:
            self.state.alerts_failed(ids, str(exc))
            log.error("alert failed topic=%s to=%s error=%s", topic, who, exc)
            return False
        self.state.alerts_sent(ids, time.time())
        log.info("alert sent topic=%s to=%s items=%d", topic, who, len(rows))
        return True

    def _item(self, data: dict[str, Any]) -> AlertItem:
        published = data.get("published")
        return AlertItem(
            item_id=data["item_id"],
            title=data["title"],
            url=data["url"],
            source_name=data["source_name"] or "",
            published=datetime.fromisoformat(published) if published else None,
            snippet=data["snippet"] or "",
            terms=data.get("terms") or (),
            highlights=[tuple(span) for span in data.get("highlights") or ()],
            also_reported=[
                (outlet or url, url) for url, outlet in self.state.also_reported(data["item_id"])
            ],
        )
