"""The alert outbox and the "also reported by" lists in Redis, shared by every worker.

`SharedOutbox` is mixed into `ClusterState`: the same methods as the SQLite outbox of
`crawler.state.State`, with the same rules (one row per topic, item and recipient, never
twice; pending, sent or failed; a message key fixed before the first attempt), kept where any
worker can send them. So an alert queued by a worker that dies is sent by another, and a copy of
a story found by one worker is listed under the item another worker queued. Its keys are listed in
`crawler/cluster/keys.py`.

Sent and failed rows are kept for `KEEP`, then trimmed when rows are next marked, so Redis holds
about a month of alerts. Only the holder of the send lock marks rows, so row updates need no
script; only the insert does (look up the triple, give an id, write the row: atomically).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from typing import Any

from redis.exceptions import LockError

from crawler.cluster.keys import Keys
from crawler.state import Alert, OutboxRow
from crawler.state import SendLock as LocalSendLock

KEEP = 30 * 86400  # seconds sent and failed rows, also-reported lists and titles are kept
RECENT = 100  # items kept in the list of recent also-reported items
TRIM_BATCH = 500  # rows trimmed at most per call

_FIELDS = [field.name for field in dataclasses.fields(OutboxRow)]
_NUMBERS = {"id": int, "attempts": int, "created_at": float, "next_attempt_at": float}
_NUMBERS |= {"sent_at": float}

# KEYS[1] ids, KEYS[2] seq, KEYS[3] pending; ARGV[1] row-key prefix, ARGV[2] created_at, then six
# per row: triple, topic, item id, recipient, mode, payload. Returns how many rows were new.
_INSERT = """
local n = 0
for i = 3, #ARGV, 6 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    local id = redis.call('INCR', KEYS[2])
    redis.call('HSET', KEYS[1], ARGV[i], id)
    redis.call('HSET', ARGV[1] .. id, 'id', id, 'triple', ARGV[i], 'topic', ARGV[i + 1],
      'item_id', ARGV[i + 2], 'recipient', ARGV[i + 3], 'mode', ARGV[i + 4],
      'payload', ARGV[i + 5], 'created_at', ARGV[2], 'status', 'pending', 'attempts', 0)
    redis.call('ZADD', KEYS[3], 0, id)
    n = n + 1
  end
end
return n
"""


class SendLock(LocalSendLock):
    """Who sends alerts: one worker at a time, by redis-py's `Lock` (SET NX PX, released by a
    compare-and-delete script) whose value is the worker's name. It expires after `ttl`
    seconds unless kept, so when its worker dies another takes over."""

    def __init__(self, redis: Any, name: str, worker: str, ttl: float) -> None:
        self.worker = worker
        self.lock = redis.lock(name, timeout=ttl, blocking=False, thread_local=False)

    def acquire(self) -> bool:
        return bool(self.lock.acquire(token=self.worker))

    def keep(self) -> bool:
        """Renew the lock for another `ttl`, before a message: False when it was lost (this
        worker stalled longer than `ttl` and another may be sending)."""
        try:
            self.lock.reacquire()
        except LockError:
            return False
        return True

    def release(self) -> None:
        with contextlib.suppress(LockError):  # expired meanwhile: nothing of ours to delete
            self.lock.release()


class SharedOutbox:
    """The outbox methods of `State`, on Redis; needs `redis`, `key` and `worker`."""

    redis: Any
    key: Keys
    worker: str

    def _outbox_scripts(self) -> None:
        self._insert_alerts = self.redis.register_script(_INSERT)

    def _queue_alerts(self, pipe: Any, item_id: str, alerts: list[Alert], now: float) -> None:
        """Add the insert of these rows to `pipe` (the MULTI that records their item)."""
        args: list[Any] = [self.key("outbox", "row", ""), now]
        for a in alerts:
            triple = json.dumps([a.topic, item_id, a.recipient], ensure_ascii=False)
            args += [triple, a.topic, item_id, a.recipient, a.mode, a.payload]
        keys = [self.key("outbox", "ids"), self.key("outbox", "seq"), self.key("outbox", "pending")]
        self._insert_alerts(keys=keys, args=args, client=pipe)

    def send_lock(self, ttl: float) -> SendLock:
        return SendLock(self.redis, self.key("sending"), self.worker, ttl)

    # -- the rows --------------------------------------------------------------------------------

    def _rows(self, ids: list[Any]) -> list[OutboxRow]:
        pipe = self.redis.pipeline(transaction=False)
        for row_id in ids:
            pipe.hgetall(self.key("outbox", "row", int(row_id)))
        return [_row(data) for data in pipe.execute() if data]

    def pending_alerts(self, now: float) -> list[OutboxRow]:
        ids = self.redis.zrangebyscore(self.key("outbox", "pending"), "-inf", now)
        return sorted(self._rows(ids), key=lambda r: r.id)

    def oldest_pending_alert(self, topic: str) -> float | None:
        ids = self.redis.zrange(self.key("outbox", "pending"), 0, -1)
        times = [r.created_at for r in self._rows(ids) if r.topic == topic]
        return min(times, default=None)

    def assign_message(self, ids: list[int], message_key: str) -> None:
        pipe = self.redis.pipeline()
        for row_id in ids:
            pipe.hset(self.key("outbox", "row", row_id), "message_key", message_key)
        pipe.execute()

    def alerts_sent(self, ids: list[int], now: float) -> None:
        self._finish(ids, "sent", now, {"status": "sent", "sent_at": now}, ("last_error",))

    def alerts_failed(self, ids: list[int], error: str) -> None:
        self._finish(ids, "failed", time.time(), {"status": "failed", "last_error": error})

    def alerts_deferred(self, ids: list[int], error: str, retry_at: float) -> None:
        pipe = self.redis.pipeline()
        for row_id in ids:
            row = self.key("outbox", "row", row_id)
            pipe.hincrby(row, "attempts", 1)
            pipe.hset(row, mapping={"next_attempt_at": retry_at, "last_error": error})
            pipe.zadd(self.key("outbox", "pending"), {row_id: retry_at}, xx=True)
        pipe.execute()

    def _finish(
        self,
        ids: list[int],
        status: str,
        now: float,
        fields: dict[str, Any],
        clear: tuple[str, ...] = (),
    ) -> None:
        pipe = self.redis.pipeline()
        for row_id in ids:
            row = self.key("outbox", "row", row_id)
            if status == "failed":
                pipe.hincrby(row, "attempts", 1)
            pipe.hset(row, mapping=fields)
            if clear:
                pipe.hdel(row, *clear)
            pipe.zrem(self.key("outbox", "pending"), row_id)
            pipe.zadd(self.key("outbox", status), {row_id: now})
        pipe.execute()
        self.trim_outbox(now - KEEP)

    def trim_outbox(self, before: float) -> int:
        """Forget sent and failed rows older than `before`; returns how many."""
        gone = 0
        for status in ("sent", "failed"):
            done = self.key("outbox", status)
            ids = self.redis.zrangebyscore(done, "-inf", f"({before}", start=0, num=TRIM_BATCH)
            if not ids:
                continue
            rows = [self.key("outbox", "row", int(i)) for i in ids]
            read = self.redis.pipeline(transaction=False)
            for row in rows:
                read.hget(row, "triple")
            triples = [t for t in read.execute() if t is not None]
            pipe = self.redis.pipeline()
            if triples:
                pipe.hdel(self.key("outbox", "ids"), *triples)
            pipe.delete(*rows)
            pipe.zrem(done, *ids)
            pipe.execute()
            gone += len(ids)
        return gone

    def outbox_counts(self) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for status in ("pending", "sent", "failed"):
            pipe.zcard(self.key("outbox", status))
        pending, sent, failed = pipe.execute()
        return {"pending": int(pending), "sent": int(sent), "failed": int(failed)}

    def failed_alerts(self, limit: int = 20) -> list[OutboxRow]:
        return self._rows(self.redis.zrevrange(self.key("outbox", "failed"), 0, limit - 1))

    # -- also reported by ------------------------------------------------------------------------

    def _queue_title(self, pipe: Any, item_id: str, title: str | None) -> None:
        if title:
            pipe.set(self.key("title", item_id), title, ex=KEEP)

    def record_also_reported(
        self, item_id: str, url: str, source_name: str | None, now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        also = self.key("also", item_id)
        recent = self.key("also-recent")
        pipe = self.redis.pipeline()
        pipe.hsetnx(also, url, json.dumps({"source": source_name, "seen_at": now}))
        pipe.expire(also, KEEP)
        pipe.zadd(recent, {item_id: now})
        pipe.zremrangebyrank(recent, 0, -RECENT - 1)
        pipe.execute()

    def also_reported(self, item_id: str) -> list[tuple[str, str | None]]:
        copies = [
            (json.loads(data)["seen_at"], url.decode(), json.loads(data)["source"])
            for url, data in self.redis.hgetall(self.key("also", item_id)).items()
        ]
        return [(url, source) for _, url, source in sorted(copies)]

    def recent_also_reported(self, limit: int = 5) -> list[dict[str, Any]]:
        ids = [i.decode() for i in self.redis.zrevrange(self.key("also-recent"), 0, limit - 1)]
        titles = self.redis.mget([self.key("title", i) for i in ids]) if ids else []
        return [
            {
                "item_id": item_id,
                "title": title.decode() if title else None,
                "also_reported": [
                    {"url": url, "source": source} for url, source in self.also_reported(item_id)
                ],
            }
            for item_id, title in zip(ids, titles, strict=True)
        ]


def _row(data: dict[bytes, bytes]) -> OutboxRow:
    fields: dict[str, Any] = {}
    for name in _FIELDS:
        value = data.get(name.encode())
        if value is None:
            fields[name] = None
        else:
            text = value.decode()
            fields[name] = _NUMBERS[name](text) if name in _NUMBERS else text
    return OutboxRow(**fields)
