"""`ClusterState`: the state database of one worker, with what all workers share in Redis.

Shared: seen URLs and entries, fingerprints, source rows, the decision trail of each page and
the worker's liveness, in Redis (every key is listed in `crawler/cluster/keys.py`).

Local (the worker's own SQLite file): the archive and the items it queued; the source rows are
copies of the shared ones, refreshed whenever a source is read.

The atomic decision: a page's body is claimed with one Lua script (`claim_fingerprint`), so of
two workers that fetch two copies of one story at the same moment exactly one goes on; the other
sees the claim and drops its copy as a duplicate. A claim becomes the fingerprint row when the
decision is recorded (`record_article`). A claim by a worker that died before recording is free
to take, so a story is not lost with its worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from crawler.cluster.keys import Keys
from crawler.cluster.outbox import SharedOutbox
from crawler.fingerprint import Facts
from crawler.schedule import PollOutcome
from crawler.sources.feeds import entry_digest
from crawler.state import Alert, ItemRecord, SourceRow, State

if TYPE_CHECKING:
    from crawler.config import ClusterSettings
    from crawler.neardup import NearDuplicateIndex

IN_FLIGHT_TTL = 3600  # seconds an article fetch by a live worker keeps others off its URL
DECISION_TTL = 30 * 86400  # seconds a page's decision trail is kept (`crawler explain`)
CLAIM_TTL = 3600 * 1000  # ms; a claim is normally recorded within milliseconds

# KEYS[1] the fingerprint; ARGV: my claim (JSON), alive-key prefix, TTL (ms).
# Returns nil when the body is mine now, else the current value.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then
  local ok, d = pcall(cjson.decode, v)
  if not (ok and type(d) == 'table' and d.claim and
          redis.call('EXISTS', ARGV[2] .. d.claim) == 0) then
    return v
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""

# KEYS[1] the fingerprint; ARGV: the row (JSON), my worker name.
# Writes the row unless another worker's claim or row is there.
_RECORD = """
local v = redis.call('GET', KEYS[1])
if v then
  local ok, d = pcall(cjson.decode, v)
  if not (ok and type(d) == 'table' and d.claim == ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# KEYS[1] the in-flight key; ARGV: my worker name, alive-key prefix, TTL (s).
_IN_FLIGHT = """
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. v) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""

# KEYS[1] source-ids, KEYS[2] the id counter; ARGV[1] the source URL.
_SOURCE_ID = """
local id = redis.call('HGET', KEYS[1], ARGV[1])
if id then return tonumber(id) end
id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], id)
return id
"""


class ClusterState(SharedOutbox, State):
    def __init__(self, path: str | Path, redis: Any, cluster: ClusterSettings) -> None:
        super().__init__(path)
        self.redis = redis
        self.cluster = cluster
        self.key = Keys(cluster.prefix)
        self.worker = cluster.worker
        self._claim = redis.register_script(_CLAIM)
        self._record = redis.register_script(_RECORD)
        self._in_flight = redis.register_script(_IN_FLIGHT)
        self._source_id = redis.register_script(_SOURCE_ID)
        self._outbox_scripts()
        self._touched = 0.0
        self.errors = (*State.errors, RedisError)

    # -- this worker -----------------------------------------------------------------------------

    def touch(self, now: float | None = None) -> None:
        """Say this worker lives, for `cluster.lease` (its claims and fetches stay its own)."""
        now = time.monotonic() if now is None else now
        ttl = int(self.cluster.lease.total_seconds() * 1000)
        self.redis.set(self.key("alive", self.worker), "1", px=ttl)
        self._touched = now

    def _keep_alive(self) -> None:
        if time.monotonic() - self._touched > self.cluster.heartbeat.total_seconds():
            self.touch()

    def meta(self, key: str) -> str | None:
        if not _shared_meta(key):
            return super().meta(key)
        value = self.redis.hget(self.key("meta"), key)
        return None if value is None else value.decode()

    def set_meta(self, key: str, value: str | None) -> None:
        if not _shared_meta(key):
            super().set_meta(key, value)
        elif value is None:
            self.redis.hdel(self.key("meta"), key)
        else:
            self.redis.hset(self.key("meta"), key, value)

    # -- sources: shared rows, local copies -------------------------------------------------------

    def source(
        self, kind: str, url: str, name: str | None = None, *, source_id: int | None = None
    ) -> SourceRow:
        shared_id = int(
            self._source_id(keys=[self.key("source-ids"), self.key("source-seq")], args=[url])
        )
        super().source(kind, url, name, source_id=shared_id)
        return self._pull(shared_id)

    def source_by_id(self, source_id: int) -> SourceRow:
        return self._pull(source_id)

    def _pull(self, source_id: int) -> SourceRow:
        """The local row, refreshed from the shared one (another worker may have polled)."""
        data = self.redis.get(self.key("source", source_id))
        local = super().source_by_id(source_id)
        if data is not None:
            shared = SourceRow(**json.loads(data))
            local = replace(shared, name=shared.name or local.name)
            self.replace_source(local)
        return local

    def record_poll(self, source_id: int, outcome: PollOutcome) -> None:
        super().record_poll(source_id, outcome)
        row = super().source_by_id(source_id)
        self.redis.set(self.key("source", source_id), json.dumps(asdict(row)))

    def sources(self) -> list[SourceRow]:
        """Every source any worker polled, as the workers share them."""
        ids = sorted(int(i) for i in self.redis.hvals(self.key("source-ids")))
        if not ids:
            return []
        rows = self.redis.mget([self.key("source", i) for i in ids])
        return [SourceRow(**json.loads(row)) for row in rows if row is not None]

    # -- what was seen ---------------------------------------------------------------------------

    def entry_seen(self, source_id: int, key: str) -> bool:
        return bool(self.redis.sismember(self.key("entries", source_id), key))

    def entry_keys(self, source_id: int) -> list[str]:
        return [key.decode() for key in self.redis.smembers(self.key("entries", source_id))]

    def seen_entry_keys(self, source_id: int, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        pipe = self.redis.pipeline(transaction=False)  # one round trip (SMISMEMBER needs 6.2)
        for key in keys:
            pipe.sismember(self.key("entries", source_id), key)
        return {key for key, seen in zip(keys, pipe.execute(), strict=True) if seen}

    def mark_entries(self, source_id: int, keys: Iterable[str], now: float | None = None) -> None:
        keys = list(keys)
        if keys:
            now = time.time() if now is None else now
            pipe = self.redis.pipeline(transaction=False)
            pipe.sadd(self.key("entries", source_id), *keys)
            pipe.zadd(self.key("entry-times", source_id), dict.fromkeys(keys, now), nx=True)
            pipe.execute()

    def url_seen(self, url: str) -> bool:
        return bool(self.redis.hexists(self.key("urls"), url))

    def mark_urls(self, urls: Iterable[str], outcome: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        urls = set(urls)
        if not urls:
            return
        pipe = self.redis.pipeline(transaction=False)
        for url in urls:
            pipe.hsetnx(self.key("urls"), url, outcome)
        pipe.zadd(self.key("url-times"), dict.fromkeys(urls, now), nx=True)
        pipe.execute()

    # -- retention: the same rule as the local state's, swept in batches -------------------------

    def record_listing(self, source_id: int, part: str, digests: Iterable[bytes]) -> None:
        listing = self.key("listed", source_id, part)
        pipe = self.redis.pipeline()
        pipe.delete(listing)
        if digests := set(digests):
            pipe.sadd(listing, *digests)
        pipe.sadd(self.key("listings"), listing)
        pipe.execute()

    def forget_seen(self, before: float) -> dict[str, int]:
        gone = super().forget_seen(before)  # this worker's own items and archive
        listed = self.key("listed-all")
        listings = [k.decode() for k in self.redis.smembers(self.key("listings"))]
        if listings:
            self.redis.sunionstore(listed, listings)
        else:
            self.redis.delete(listed)
        gone["seen_urls"] = self._sweep(self.key("url-times"), self.key("urls"), before, listed)
        gone["seen_entries"] = sum(
            self._sweep(self.key("entry-times", i), self.key("entries", i), before, listed)
            for i in (int(i) for i in self.redis.hvals(self.key("source-ids")))
        )
        return gone

    def _sweep(self, times: str, seen: str, before: float, listed: str) -> int:
        """Forget the members of `seen` (a hash or set) first seen before `before`, per `times`,
        unless the union of the last listings (`listed`) holds them."""
        forgotten = 0
        start = 0
        while batch := self.redis.zrangebyscore(times, "-inf", f"({before}", start=start, num=500):
            still = self.redis.smismember(listed, [entry_digest(k.decode()) for k in batch])
            old = [key for key, kept in zip(batch, still, strict=True) if not kept]
            if old:
                pipe = self.redis.pipeline()
                pipe.zrem(times, *old)
                if self.redis.type(seen) == b"hash":
                    pipe.hdel(seen, *old)
                else:
                    pipe.srem(seen, *old)
                pipe.execute()
            forgotten += len(old)
            start += len(batch) - len(old)
        return forgotten

    def claim_request(self, url: str) -> bool:
        """Take an article URL for this worker to fetch: False while a live worker fetches it."""
        self._keep_alive()
        return bool(
            self._in_flight(
                keys=[self.key("inflight", url)],
                args=[self.worker, self.key("alive", ""), IN_FLIGHT_TTL],
            )
        )

    def release_requests(self, urls: Iterable[str]) -> None:
        """Let these URLs be claimed again at once (their delivery failed)."""
        keys = [self.key("inflight", url) for url in urls]
        if keys:
            self.redis.delete(*keys)

    # -- fingerprints: the atomic decision -------------------------------------------------------

    def claim_fingerprint(self, content_hash: str, url: str) -> tuple[str | None, str] | None:
        self._keep_alive()
        mine = json.dumps({"claim": self.worker, "url": url})
        current = self._claim(
            keys=[self.key("fp", content_hash)], args=[mine, self.key("alive", ""), CLAIM_TTL]
        )
        return None if current is None else _owner(current)

    def decided_not_queued(self, content_hash: str) -> bool:
        """As the local state's; a body another worker is deciding now counts as queued."""
        current = self.redis.get(self.key("fp", content_hash))
        if current is None:
            return False
        data = json.loads(current)
        return "claim" not in data and data.get("item") is None

    def fingerprint_owner(self, content_hash: str) -> tuple[str | None, str] | None:
        current = self.redis.get(self.key("fp", content_hash))
        return None if current is None else _owner(current)

    def record_article(
        self,
        *,
        urls: Iterable[str],
        outcome: str,
        content_hash: str | None = None,
        entry: tuple[int, str] | None = None,
        item: ItemRecord | None = None,
        alerts: Iterable[Alert] = (),
        duplicate_of: str | None = None,
        now: float | None = None,
    ) -> None:
        """Locally the item; in Redis, in one MULTI, its fingerprint row and its alert rows."""
        now = time.time() if now is None else now
        urls = list(urls)
        alerts = list(alerts)
        with self.transaction(durable=item is not None):  # rolled back if Redis fails
            super().record_article(
                urls=urls,
                outcome=outcome,
                content_hash=content_hash,
                entry=entry,
                item=item,
                duplicate_of=duplicate_of,
                now=now,
            )
            pipe = self.redis.pipeline()
            if content_hash is not None:
                row = json.dumps({"item": item.id if item else duplicate_of, "url": urls[0]})
                self._record(
                    keys=[self.key("fp", content_hash)], args=[row, self.worker], client=pipe
                )
            if item is not None:
                pipe.incr(self.key("items"))
                self._queue_title(pipe, item.id, item.title)
                if alerts:
                    self._queue_alerts(pipe, item.id, alerts, now)
            pipe.execute()

    def publish(self, item: dict[str, Any]) -> None:
        """XADD the item to `cluster.stream` (trimmed to about `cluster.stream_maxlen`
        entries): fields `id` and `item` (the queue file's JSON). Readers use consumer groups."""
        if self.cluster.stream:
            self.redis.xadd(
                self.cluster.stream,
                {"id": item["id"], "item": json.dumps(item, ensure_ascii=False)},
                maxlen=self.cluster.stream_maxlen,
                approximate=True,
            )

    def counts(self) -> dict[str, Any]:
        counts = super().counts()
        counts["items"] = int(self.redis.get(self.key("items")) or 0)
        counts["sources"] = int(self.redis.hlen(self.key("source-ids")))
        counts["seen_urls"] = int(self.redis.hlen(self.key("urls")))
        counts["listed"] = int(self.redis.scard(self.key("listed-all")))
        return counts

    # -- the decision trail ----------------------------------------------------------------------

    def record_decision(
        self,
        url: str,
        outcome: str,
        trail: dict[str, Any],
        *,
        detail: str | None = None,
        final_url: str | None = None,
        canonical_url: str | None = None,
        now: float | None = None,
    ) -> None:
        """The decision as one JSON value (expiring after DECISION_TTL), its final and canonical
        URLs pointing to it (a queued page's take over), and the page counted under its
        outcome, in one MULTI."""
        now = time.time() if now is None else now
        row = {
            "decided_at": now,
            "outcome": outcome,
            "detail": detail,
            "final_url": final_url,
            "canonical_url": canonical_url,
            "trail": trail,
        }
        reasons = {r.decode() for r in self.redis.smembers(self.key("decided-reasons"))}
        pipe = self.redis.pipeline()
        pipe.set(self.key("decision", url), json.dumps(row, ensure_ascii=False), ex=DECISION_TTL)
        for alias in {final_url, canonical_url} - {None, url}:
            key = self.key("decision-of", alias)
            pipe.set(key, url, ex=DECISION_TTL, nx=outcome != "queued")
        for reason in reasons - {outcome}:
            pipe.zrem(self.key("decided", reason), url)
        pipe.sadd(self.key("decided-reasons"), outcome)
        pipe.zadd(self.key("decided", outcome), {url: now})
        pipe.zremrangebyscore(self.key("decided", outcome), "-inf", f"({now - DECISION_TTL}")
        pipe.execute()

    def decision(self, url: str) -> dict[str, Any] | None:
        data = self.redis.get(self.key("decision", url))
        if data is None:
            primary = self.redis.get(self.key("decision-of", url))
            if primary is None:
                return None
            data = self.redis.get(self.key("decision", primary.decode()))
            if data is None:
                return None
        row = json.loads(data)
        return {
            **row["trail"],
            "decided_at": row["decided_at"],
            "outcome": row["outcome"],
            "detail": row["detail"],
        }

    def decision_counts(self, since: float) -> dict[str, int]:
        reasons = sorted(r.decode() for r in self.redis.smembers(self.key("decided-reasons")))
        pipe = self.redis.pipeline(transaction=False)
        for reason in reasons:
            pipe.zcount(self.key("decided", reason), since, "+inf")
        counts = {r: int(n) for r, n in zip(reasons, pipe.execute(), strict=True) if n}
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def purge_decisions(self, before: float) -> int:
        """Forget who was decided before `before` in the counts; the trails expire by their
        TTL."""
        reasons = [r.decode() for r in self.redis.smembers(self.key("decided-reasons"))]
        gone = 0
        for reason in reasons:
            zset = self.key("decided", reason)
            urls = [u.decode() for u in self.redis.zrangebyscore(zset, "-inf", f"({before}")]
            if urls:
                self.redis.delete(*[self.key("decision", u) for u in urls])
                gone += int(self.redis.zrem(zset, *urls))
        return gone

    # -- near duplicates: the index lives in Redis ----------------------------------------------

    def near_duplicate_index(self, threshold: float) -> NearDuplicateIndex:
        from crawler.cluster.neardup import SharedNearDuplicateIndex

        return SharedNearDuplicateIndex(self.redis, self.key, threshold)

    def add_signature(
        self,
        content_hash: str,
        signature: bytes,
        now: float | None = None,
        *,
        lookup: bytes | None = None,
    ) -> int:
        """Kept by the shared index itself (`SharedNearDuplicateIndex.add`)."""
        return 0

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        return iter(())  # nothing to load: the shared index is already in Redis

    def signature_facts(self, content_hash: str) -> Facts | None:
        """Kept by the shared index itself with the signature (`<p>:near:facts`)."""
        data = self.redis.hget(self.key("near", "facts"), content_hash)
        try:
            return None if data is None else Facts.from_bytes(data)
        except ValueError:  # unreadable: as if unknown
            return None

    def purge_signatures(self, before: float) -> list[str]:
        times = self.key("near", "times")
        gone = [k.decode() for k in self.redis.zrangebyscore(times, "-inf", f"({before}")]
        if gone:
            self.redis.zrem(times, *gone)
        return gone


def _shared_meta(key: str) -> bool:
    return key.startswith("digest:")  # when a topic's digest went out: any worker may send it


def _owner(value: bytes) -> tuple[str | None, str]:
    data = json.loads(value)
    if "claim" in data:
        return None, f"{data['url']} (being decided by worker {data['claim']})"
    return data.get("item"), data["url"]
