"""The near-duplicate index shared by every worker: datasketch's MinHashLSH on Redis storage.

Same answers as `crawler.neardup.NearDuplicateIndex` (same bands, same verification of
candidates), with everything in Redis under `<prefix>:near:` and `<prefix>:lsh`:

    <p>:lsh...               datasketch's bucket and key tables (basename `<p>:lsh`)
    <p>:near:values          hash  key -> MinHash values, to verify candidates
    <p>:near:exact:<digest>  str   the first key with this exact signature (short bodies)
    <p>:near:facts           hash  key -> the body's facts (`Facts.to_bytes`), for the check
    <p>:near:exact-of        hash  key -> digest, to forget a key
    <p>:near:times           zset  key -> when it was added, for `dedup.keep`

`find_or_add` is the decision and must be atomic across workers: the LSH query and the insert
are several Redis commands (one per band), so they run under a short Redis lock
(`<p>:near:lock`, redis-py's `Lock`: SET NX PX with a token, released by compare-and-delete).
Only bodies that passed the exact-fingerprint claim reach it, and it is held for a few round
trips, so workers seldom wait. A worker that dies holding it frees it after `LOCK_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from datasketch import LeanMinHash, MinHashLSH

from crawler.neardup import (
    NUM_PERM,
    Match,
    NearDuplicateIndex,
    Signature,
    lsh_params,
    min_matches,
    ranked_matches,
)

_SEED = 1  # of the MinHash permutations (crawler.neardup's)
_SCHEME = "affine32"
LOCK_TIMEOUT = 10.0  # seconds a dead worker's lock lingers
LOCK_WAIT = 30.0  # seconds to wait for the lock before giving up on a page (it is fetched again)


def _storage(redis: Any) -> dict[str, Any]:
    """datasketch opens its own connections: the same server, database and credentials."""
    kwargs = redis.connection_pool.connection_kwargs
    params = {k: kwargs[k] for k in ("host", "port", "db", "username", "password") if k in kwargs}
    if "path" in kwargs:
        params["unix_socket_path"] = kwargs["path"]
    return params


class SharedNearDuplicateIndex(NearDuplicateIndex):
    """`NearDuplicateIndex`'s interface (`find`, `find_or_add`, `add`, `remove`) on Redis."""

    def __init__(
        self,
        redis: Any,
        key: Callable[..., str],
        threshold: float,
        num_perm: int = NUM_PERM,
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._min_matches = min_matches(threshold, num_perm)
        self.redis = redis
        self.key = key
        self._lsh = MinHashLSH(
            threshold=threshold,
            num_perm=num_perm,
            params=lsh_params(threshold, num_perm),
            storage_config={
                "type": "redis",
                "basename": key("lsh").encode(),
                "redis": _storage(redis),
            },
        )
        self._values_key = key("near", "values")
        self._exact_of_key = key("near", "exact-of")
        self._times_key = key("near", "times")
        self._facts_key = key("near", "facts")

    def __len__(self) -> int:
        return int(self.redis.hlen(self._values_key)) + int(self.redis.hlen(self._exact_of_key))

    def __contains__(self, key: object) -> bool:
        return bool(
            self.redis.hexists(self._values_key, key) or self.redis.hexists(self._exact_of_key, key)
        )

    def _matches(self, sig: Signature) -> list[Match]:
        if sig.is_exact:
            owner = self.redis.get(self.key("near", "exact", sig.exact_key.hex()))
            return [] if owner is None else [Match(owner.decode(), 1.0)]
        query = self._lean(sig)
        candidates = sorted(str(k) for k in self._lsh.query(query))
        values = self.redis.hmget(self._values_key, candidates) if candidates else []
        kept = {k: v for k, v in zip(candidates, values, strict=True) if v is not None}
        return ranked_matches(sig.values(), kept, self._min_matches)

    def find_or_add(
        self, key: str, sig: Signature, accept: Callable[[str, float], bool] | None = None
    ) -> Match | None:
        with self.redis.lock(
            self.key("near", "lock"), timeout=LOCK_TIMEOUT, sleep=0.005, blocking_timeout=LOCK_WAIT
        ):
            return super().find_or_add(key, sig, accept)

    def add(self, key: str, sig: Signature) -> None:
        if key in self:
            self.remove(key)
        pipe = self.redis.pipeline(transaction=True)
        if sig.is_exact:
            digest = sig.exact_key.hex()
            pipe.set(self.key("near", "exact", digest), key, nx=True)
            pipe.hset(self._exact_of_key, key, digest)
        else:
            self._lsh.insert(key, self._lean(sig), check_duplication=False)
            pipe.hset(self._values_key, key, sig.hashvalues)
        if sig.facts is not None:
            pipe.hset(self._facts_key, key, sig.facts.to_bytes())
        pipe.zadd(self._times_key, {key: time.time()})
        pipe.execute()

    def remove(self, key: str) -> None:
        if self.redis.hexists(self._values_key, key):
            with contextlib.suppress(ValueError):  # another worker removed it first
                self._lsh.remove(key)
            self.redis.hdel(self._values_key, key)
        else:
            digest = self.redis.hget(self._exact_of_key, key)
            if digest is not None:
                exact = self.key("near", "exact", digest.decode())
                if self.redis.get(exact) == key.encode():
                    self.redis.delete(exact)
                self.redis.hdel(self._exact_of_key, key)
        self.redis.hdel(self._facts_key, key)
        self.redis.zrem(self._times_key, key)

    def save(self) -> None:
        """Nothing to keep: the shared index is in Redis."""

    def _lean(self, sig: Signature) -> LeanMinHash:
        if sig.num_perm != self.num_perm:
            raise ValueError(f"signature has {sig.num_perm} values, the index {self.num_perm}")
        return LeanMinHash(seed=_SEED, hashvalues=sig.values(), scheme=_SCHEME)
