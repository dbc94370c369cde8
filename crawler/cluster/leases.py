"""Which worker polls which source: leases in Redis, and the registry of live workers.

A lease is a key `<p>:lease:<source key>` holding the worker's name, set with NX and a TTL of
`cluster.lease`; its worker renews it every `cluster.heartbeat` and gives it back when it stops
(both by compare-and-set scripts: a worker never renews or deletes another's lease). A worker
that dies stops renewing, so its leases expire and the other workers take its sources at their
next heartbeat, from the schedule kept with each source in Redis.

Each heartbeat a worker also counts the live workers and keeps about its fair share of the
sources: it gives back leases beyond `ceil(sources / workers)` (never one whose poll is under
way) and takes free ones up to it. So a new worker gets work within two heartbeats, and the
sources of a dead one are spread over the others.

The registry `<p>:workers` (a hash: worker -> JSON) holds each worker's last heartbeat, pid, host,
sources leased and pages fetched per minute, for `crawler status`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import socket
import time
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from crawler.cluster.keys import Keys
from crawler.config import ClusterSettings, Settings
from crawler.middlewares import error_text

log = logging.getLogger("crawler.cluster")

# ARGV: my name, TTL (ms); KEYS: leases. Returns the keys still mine (renewed).
_RENEW = """
local mine = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    table.insert(mine, key)
  end
end
return mine
"""

# ARGV: my name; KEYS: leases to give back. Returns how many were mine.
_RELEASE = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""

FORGET_AFTER = 3600.0  # seconds after its last heartbeat a dead worker leaves the registry


class Leases:
    def __init__(self, redis: Any, cluster: ClusterSettings) -> None:
        self.redis = redis
        self.cluster = cluster
        self.worker = cluster.worker
        self.key = Keys(cluster.prefix)
        self.held: set[str] = set()
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._renewed_at = time.monotonic()
        self._rng = random.Random(f"{self.worker}")
        self.started_at = time.time()

    def _lease(self, source: str) -> str:
        return self.key("lease", source)

    @property
    def ttl_ms(self) -> int:
        return int(self.cluster.lease.total_seconds() * 1000)

    def holds(self, source: str) -> bool:
        """Is the lease on `source` this worker's (asked of Redis, not remembered)?"""
        return bool(self.redis.get(self._lease(source)) == self.worker.encode())

    def tick(
        self, sources: Iterable[str], busy: Iterable[str] = (), pages_per_minute: float = 0.0
    ) -> set[str]:
        """One heartbeat: say this worker lives, renew its leases, balance; returns the sources
        it holds now. If Redis cannot be reached, the leases are kept until they would have
        expired, then dropped (another worker may have them by then)."""
        sources = list(sources)
        try:
            self._beat(sources, set(busy), pages_per_minute)
        except RedisError as exc:
            if time.monotonic() - self._renewed_at > self.cluster.lease.total_seconds():
                self.held.clear()
            log.warning("cluster redis unavailable error=%s; retrying", error_text(exc))
        return set(self.held)

    def _beat(self, sources: list[str], busy: set[str], pages_per_minute: float) -> None:
        now = time.time()
        self.redis.set(self.key("alive", self.worker), "1", px=self.ttl_ms)
        if self.held:
            renewed = self._renew(
                keys=[self._lease(s) for s in sorted(self.held)], args=[self.worker, self.ttl_ms]
            )
            mine = {k.decode() for k in renewed}
            lost = {s for s in self.held if self._lease(s) not in mine}
            for source in lost:
                log.warning("lease lost source=%s", source)
            self.held -= lost
        self._renewed_at = time.monotonic()
        self.held &= set(sources)  # a source removed from the settings
        live = self.live_workers(now)
        share = math.ceil(len(sources) / max(1, len(live)))
        extra = len(self.held) - share
        if extra > 0:
            spare = sorted(self.held - busy)[:extra]
            self.release(spare)
        elif extra < 0:
            free = [s for s in sources if s not in self.held]
            self._rng.shuffle(free)
            for source in free:
                if len(self.held) >= share:
                    break
                if self.redis.set(self._lease(source), self.worker, nx=True, px=self.ttl_ms):
                    self.held.add(source)
        self.redis.hset(
            self.key("workers"),
            self.worker,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started_at": self.started_at,
                    "heartbeat_at": now,
                    "sources_leased": len(self.held),
                    "pages_per_minute": round(pages_per_minute, 1),
                }
            ),
        )

    def live_workers(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        live = live_workers(self.redis, self.cluster, now)
        live.setdefault(self.worker, {})
        return live

    def release(self, sources: Iterable[str]) -> None:
        """Give leases back (compare-and-delete): another worker may take them at once."""
        sources = sorted(sources)
        if not sources:
            return
        self._release(keys=[self._lease(s) for s in sources], args=[self.worker])
        self.held -= set(sources)
        log.info("leases released sources=%d", len(sources))

    def stop(self) -> None:
        """A clean stop: every lease handed back, this worker out of the registry."""
        try:
            self.release(list(self.held))
            self.redis.hdel(self.key("workers"), self.worker)
            self.redis.delete(self.key("alive", self.worker))
        except RedisError as exc:
            log.warning("cluster redis unavailable at stop error=%s", error_text(exc))


def live_workers(
    redis: Any, cluster: ClusterSettings, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """The registry's workers whose last heartbeat is within `cluster.lease`; the registry
    forgets workers silent for an hour."""
    now = time.time() if now is None else now
    key = Keys(cluster.prefix)("workers")
    live: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    for name, value in redis.hgetall(key).items():
        info = json.loads(value)
        age = now - float(info.get("heartbeat_at", 0))
        if age < cluster.lease.total_seconds():
            live[name.decode()] = info
        elif age > FORGET_AFTER:
            gone.append(name.decode())
    if gone:
        redis.hdel(key, *gone)
    return live


def cluster_report(config: Settings, now: float | None = None) -> dict[str, Any]:
    """What `crawler status` shows of a cluster: the live workers and the frontier's depth."""
    from crawler.cluster import redis_client

    assert config.cluster is not None
    redis = redis_client(config)
    workers = live_workers(redis, config.cluster, now)
    return {
        "redis": config.cluster.redis,
        "workers": [{"name": name, **info} for name, info in sorted(workers.items())],
        "frontier": int(redis.zcard(Keys(config.cluster.prefix)("frontier"))),
    }
