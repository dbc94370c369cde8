"""Near-duplicate detection: MinHash over word shingles, looked up in a compact LSH index.

The same wire story reaches a reader from many outlets, each wrapped in its own byline, share
buttons or "Reporting by" line, sometimes trimmed at the end; a newsroom re-publishes its own
story with a correction. Those copies are not byte-equal, so the exact hash misses them. Here a
body is reduced to a `Signature`: the MinHash of its word shingles (over `normalize_text`), or,
for a body too short for shingles to say much, an exact key of its normalised title and body.
`NearDuplicateIndex` keeps the signatures of the bodies already accepted and answers "which
earlier body is this one a near-duplicate of?".

Usage::

    index = NearDuplicateIndex.load(state, threshold)   # the state database is its store
    sig = signature(title, text)          # pure: may run in a worker process
    match = index.find_or_add(item_key, sig)
    if match is not None:
        ...                                # a copy of match.key (match.similarity)

Signatures are stable across processes and runs (the shingle hash is CRC-32 and the MinHash
permutations come from a fixed seed and scheme), so the store keeps `to_bytes()` and, beside
it, the signature's LSH band hashes, from which `load` rebuilds the index in one pass. The
shingle size, the short-body cut-off and `DEFAULT_THRESHOLD` were chosen with
`bench/dedup.py`; changing `SHINGLE_SIZE`, `NUM_PERM` or the hashing makes stored signatures
incomparable with new ones.
"""

from __future__ import annotations

import hashlib
import logging
import math
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import NamedTuple

import numpy as np

from crawler.fingerprint import Facts, facts, normalize_text
from crawler.hashslots import Slots
from crawler.minhash import minhash
from crawler.sigstore import MemoryStore, SignatureStore

__all__ = [
    "DEFAULT_THRESHOLD",
    "NUM_PERM",
    "SHINGLE_SIZE",
    "SHORT_BODY_WORDS",
    "Match",
    "NearDuplicateIndex",
    "Signature",
    "band_hashes",
    "band_params",
    "lsh_params",
    "ranked_matches",
    "shingles",
    "signature",
]

log = logging.getLogger("crawler.neardup")

DEFAULT_THRESHOLD = 0.5
"""Estimated Jaccard similarity of shingle sets from which two bodies are the same story.

On the benchmark the hardest different-story pair (one reusing a background paragraph of the
other) is at 0.28 and 99 % of the copies are above 0.66; 0.5 leaves room on both sides for the
MinHash estimate error (about 0.045)."""

SHINGLE_SIZE = 4
"""Words per shingle. Sizes 3, 4 and 5 score alike on the benchmark; 3 brings unrelated bodies
closer, 5 makes every edited word cost more."""

NUM_PERM = 128
"""MinHash permutations: 512 bytes per signature, estimate error about 0.045 at Jaccard 0.5."""

SHORT_BODY_WORDS = 30
"""A body with fewer words than this is compared exactly (normalised title and body)."""

_SEED = 1
_SCHEME = "affine32"
_KIND_MINHASH = 1
_KIND_EXACT = 2
_WITH_FACTS = 2  # added to the kind: a payload length, the payload, then the facts as JSON
_VALUES = np.dtype("<u4")
_EXACT_SALT = np.uint64(0x5EC7_E8AC_7B0D_1E55)  # keeps exact-key hashes apart from band hashes

CACHE_SIGNATURES = 1024
"""Signatures kept in memory besides the arrays: the latest added or read (the likeliest
candidates: copies of a story come within hours)."""

LOAD_CHUNK = 20_000
"""Rows read from the store at a time when the index is loaded."""

SNAPSHOT_EVERY = 10_000
"""Adds and removals after which the index keeps a new snapshot of its arrays (or after a
quarter of its size, if more)."""


class Match(NamedTuple):
    """An earlier body that a new one is a near-duplicate of."""

    key: str
    similarity: float  # share of equal MinHash values (estimated Jaccard); 1.0 for exact keys


Accept = Callable[[str, float], bool]
"""`accept(candidate_key, similarity)`: may the query be merged with this candidate?
crawler/dedup.py passes the check that the two bodies' facts agree, so the best candidate whose
facts agree wins."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What is kept of one body: MinHash values (or, for a short body, an exact key), and the
    facts the body carries (`crawler.fingerprint.facts`).

    Exactly one of the first two fields is non-empty: `hashvalues` holds the MinHash as
    little-endian uint32 values, `exact_key` a 16-byte digest of the normalised title and body.
    `facts` is None for a signature stored before facts were kept: its facts are unknown.
    """

    hashvalues: bytes = b""
    exact_key: bytes = b""
    facts: Facts | None = None

    def __post_init__(self) -> None:
        if bool(self.hashvalues) == bool(self.exact_key):
            raise ValueError("a signature has either MinHash values or an exact key")
        if len(self.hashvalues) % _VALUES.itemsize:
            raise ValueError("MinHash values must be whole uint32 values")

    @property
    def is_exact(self) -> bool:
        """True for a short body, compared by its exact key."""
        return bool(self.exact_key)

    @property
    def num_perm(self) -> int:
        """Number of MinHash values (0 for an exact signature)."""
        return len(self.hashvalues) // _VALUES.itemsize

    def to_bytes(self) -> bytes:
        """Compact form for a BLOB column: one kind byte, then the values or the key; with
        facts, the kind says so and the payload's length (2 bytes) and the facts (compact
        JSON) follow."""
        kind, payload = (
            (_KIND_EXACT, self.exact_key)
            if self.exact_key
            else (
                _KIND_MINHASH,
                self.hashvalues,
            )
        )
        if self.facts is None:
            return bytes((kind,)) + payload
        header = bytes((kind + _WITH_FACTS,)) + len(payload).to_bytes(2, "little")
        return header + payload + self.facts.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """The signature `to_bytes` wrote, also in the form without facts; ValueError for
        anything else."""
        if len(data) < 2:
            raise ValueError("signature bytes too short")
        kind, payload = data[0], bytes(data[1:])
        found: Facts | None = None
        if kind in (_KIND_MINHASH + _WITH_FACTS, _KIND_EXACT + _WITH_FACTS):
            size = int.from_bytes(payload[:2], "little")
            if len(payload) < 2 + size:
                raise ValueError("signature bytes too short")
            found = Facts.from_bytes(payload[2 + size :])
            kind, payload = kind - _WITH_FACTS, payload[2 : 2 + size]
        if kind == _KIND_MINHASH:
            return cls(hashvalues=payload, facts=found)
        if kind == _KIND_EXACT:
            return cls(exact_key=payload, facts=found)
        raise ValueError(f"unknown signature kind {kind}")

    def values(self) -> np.ndarray:
        """The MinHash values as a read-only uint32 array."""
        return np.frombuffer(self.hashvalues, dtype=_VALUES)


def shingles(words: list[str], size: int = SHINGLE_SIZE) -> set[str]:
    """The distinct runs of `size` consecutive words (the whole text if it is shorter)."""
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def signature(
    title: str, text: str, *, num_perm: int = NUM_PERM, shingle_size: int = SHINGLE_SIZE
) -> Signature:
    """The signature of one article body.

    Word shingles of `shingle_size` words over `normalize_text(text)`, hashed with CRC-32 into a
    MinHash of `num_perm` values (datasketch's values, computed by crawler/minhash.py); the title
    is left out, so a new headline does not hide a
    copy. A body of fewer than `SHORT_BODY_WORDS` words gets an exact key of its normalised
    title and body instead. The facts are the body's (`crawler.fingerprint.facts`). Pure and
    picklable: it can run in a worker process.
    """
    body = normalize_text(text)
    words = body.split()
    if len(words) < SHORT_BODY_WORDS:
        exact = f"{normalize_text(title)}\n{body}".encode()
        key = hashlib.blake2b(exact, digest_size=16).digest()
        return Signature(exact_key=key, facts=facts(text))
    hashes = (zlib.crc32(s.encode()) for s in shingles(words, shingle_size))
    values = minhash(hashes, num_perm, _SEED).astype(_VALUES).tobytes()
    return Signature(hashvalues=values, facts=facts(text))


def _candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - jaccard**rows) ** bands


@lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int] | None:
    """LSH bands and rows per band for `threshold`: the fewest bands (memory grows with them)
    that still make a body a candidate with probability >= 0.8 at the threshold and >= 0.95 at
    0.1 above it, while one that shares only 5 % of its shingles becomes a candidate with
    probability <= 0.005 (candidates are verified, so a few extra cost only time). None
    where no such choice exists (low thresholds): datasketch then picks its own.

    datasketch's own choice balances false candidates against missed ones; here candidates
    are verified anyway, so missed ones matter more: at 0.5 it gives 25 bands of 5 rows,
    which miss 45 % of the bodies at 0.5 and 13 % at 0.6, where 13 bands of 3 rows miss 18 %
    and 4 % with half the memory.
    """
    usable = [
        (bands, -rows)
        for rows in range(1, num_perm + 1)
        for bands in range(2, num_perm // rows + 1)
        if _candidate_probability(threshold, bands, rows) >= 0.8
        and _candidate_probability(min(threshold + 0.1, 1.0), bands, rows) >= 0.95
        and _candidate_probability(0.05, bands, rows) <= 0.005
    ]
    if not usable:
        return None
    bands, negative_rows = min(usable)
    return bands, -negative_rows


def band_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """The LSH bands and rows in use: `lsh_params`, or where it has none datasketch's choice
    (the one its MinHashLSH makes for the same threshold)."""
    chosen = lsh_params(threshold, num_perm)
    if chosen is not None:
        return chosen
    from datasketch.lsh import _optimal_param  # low thresholds only: SciPy is costly to import

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


@lru_cache(maxsize=32)
def _band_multipliers(bands: int, rows: int) -> np.ndarray:
    """Odd 64-bit multipliers, one per band and row, fixed forever (they are in the database)."""
    return np.array(
        [
            [
                int.from_bytes(hashlib.blake2b(f"{b}:{r}".encode(), digest_size=8).digest()) | 1
                for r in range(rows)
            ]
            for b in range(bands)
        ],
        dtype=np.uint64,
    )


def band_hashes(values: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit hash per LSH band of each row of `values` (MinHash values, one signature a
    row): the band's values weighted by its own multipliers, summed modulo 2**64. Equal bands
    give equal hashes; two different ones collide with odds of about 2**-64, and a collision
    only adds a candidate, which is verified."""
    grouped = values[:, : bands * rows].reshape(len(values), bands, rows)
    return _band_sums(grouped, bands, rows)


def _band_sums(grouped: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """`band_hashes` of values grouped by band (..., bands, rows)."""
    weighted = np.multiply(grouped, _band_multipliers(bands, rows), dtype=np.uint64)
    hashes: np.ndarray = weighted.sum(axis=-1, dtype=np.uint64)
    return hashes


def min_matches(threshold: float, num_perm: int = NUM_PERM) -> int:
    """How many of `num_perm` MinHash values two signatures must share to be `threshold`
    similar (the estimate every candidate is verified against)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    return math.ceil(threshold * num_perm - 1e-9)


def ranked_matches(
    query: np.ndarray, candidates: dict[str, bytes], min_matches: int
) -> list[Match]:
    """The candidates (key -> MinHash values, as many as the query's) with at least
    `min_matches` values equal to the query's, best first: most equal values (the highest
    estimated Jaccard similarity), then the smallest key."""
    if not candidates:
        return []
    keys = list(candidates)
    stored = np.frombuffer(b"".join(candidates.values()), dtype=_VALUES)
    matches = (stored.reshape(len(keys), -1) == query).sum(axis=1).tolist()
    order = sorted(range(len(keys)), key=lambda i: (-matches[i], keys[i]))
    return [Match(keys[i], matches[i] / len(query)) for i in order if matches[i] >= min_matches]


class NearDuplicateIndex:
    """MinHash LSH index of the signatures kept, compact in memory, the signatures in a store.

    In memory (`crawler.hashslots.Slots`): per LSH band a 64-bit hash of the band's values ->
    slot (12 bytes an entry, in sorted numpy arrays), slot -> key (UTF-8, one numpy array) and
    a small cache of recent signatures: about 25 MiB per 100,000 signatures. The signatures
    themselves stay in `store` (the state database) with their band hashes beside them, and a
    snapshot of the arrays, so that `load` reads one blob and the few rows changed since.
    LSH candidates are read from the store and verified with the estimated Jaccard similarity,
    so `find` answers only for bodies at or above `threshold`; short bodies (exact signatures)
    are found only by an equal key. Same bands, same verification, so the same answers as
    datasketch's MinHashLSH with the same parameters.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = NUM_PERM,
        *,
        store: SignatureStore | None = None,
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._min_matches = min_matches(threshold, num_perm)
        self.bands, self.rows = band_params(threshold, num_perm)
        self.store: SignatureStore = MemoryStore() if store is None else store
        self._slots = Slots()
        self._cache: OrderedDict[str, Signature] = OrderedDict()
        self._changes = 0  # adds and removals since the last snapshot

    @property
    def layout(self) -> str:
        """What the stored lookup hashes were made for; any change means computing them again."""
        return f"lsh {self.bands}x{self.rows} of {self.num_perm}, hash 1"

    @classmethod
    def load(
        cls, store: SignatureStore, threshold: float = DEFAULT_THRESHOLD, num_perm: int = NUM_PERM
    ) -> NearDuplicateIndex:
        """The index of every signature in `store`: its last snapshot, plus the lookups added
        and forgotten since; a new snapshot when those are many.

        Where the lookups were made for other bands (a new `dedup.near_threshold`) or are
        missing (signatures kept before they were), they are computed again from the
        signatures first, once. A signature that cannot be read is logged and forgotten."""
        index = cls(threshold, num_perm, store=store)
        snapshot = store.signature_snapshot(index.snapshot_layout)
        if snapshot is not None:
            try:
                index._slots = Slots.from_bytes(snapshot[1])
            except ValueError as exc:
                log.warning("near-duplicate snapshot unreadable error=%s; not used", exc)
                snapshot = None
        rows = store.signature_lookups(index.layout, after=snapshot[0] if snapshot else 0)
        if rows is None:
            index._slots, snapshot = Slots(), None
            unreadable: list[str] = []
            recomputed = index._recomputed(store.signatures(), unreadable)
            store.replace_signature_lookups(index.layout, recomputed)
            for key in unreadable:
                store.forget_signature(key)
            log.info("near-duplicate lookups computed layout=%r", index.layout)
            rows = store.signature_lookups(index.layout)
            assert rows is not None
        forgotten = store.forgotten_signature_slots() if snapshot else []
        index._slots.forget_stored(forgotten)
        index._changes = len(forgotten) + index._extend(rows)
        if snapshot is None or index._changes >= index._snapshot_every():
            index._keep_snapshot()
        return index

    @property
    def snapshot_layout(self) -> str:
        return f"{self.layout}, slots 1"

    def save(self) -> None:
        """Keep a snapshot of the arrays in the store, so that the next `load` is quick
        (nothing to do when nothing changed since the last one)."""
        if self._changes:
            self._keep_snapshot()

    def _keep_snapshot(self) -> None:
        self.store.save_signature_snapshot(
            self.snapshot_layout, self._slots.last_stored, self._slots.to_bytes()
        )
        self._changes = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._slots.slot_of(key) is not None

    def find(self, sig: Signature) -> Match | None:
        """The earlier near-duplicate of `sig` with the highest estimated Jaccard similarity
        (ties to the smallest key), or None. For an exact signature, the first key added with
        the same exact key (similarity 1.0)."""
        matches = self._matches(sig)
        return matches[0] if matches else None

    def find_or_add(
        self, key: str, sig: Signature, accept: Callable[[str, float], bool] | None = None
    ) -> Match | None:
        """The decision in one step: the best earlier near-duplicate of `sig` (not `key`
        itself) for which `accept(key, similarity)` is true (`accept` None: any), or None after
        keeping `sig` under `key`."""
        for match in self._matches(sig):
            if match.key != key and (accept is None or accept(match.key, match.similarity)):
                return match
        self.add(key, sig)
        return None

    def add(self, key: str, sig: Signature) -> None:
        """Keep `sig` under `key`, in the store and here; a key added again is replaced."""
        hashes = self._hashes(sig)
        if self._changes >= self._snapshot_every():
            self.save()
        self.remove(key)
        stored = self.store.add_signature(
            key, sig.to_bytes(), lookup=hashes.astype("<u8").tobytes()
        )
        self._slots.add(key, hashes, stored)
        self._changes += 1
        self._remember(key, sig)

    def remove(self, key: str) -> None:
        """Forget `key`, here and in the store (retention expiry); a key not there is ignored."""
        if key not in self:
            return
        self.store.forget_signature(key)
        self._slots.remove(key)
        self._changes += 1
        self._cache.pop(key, None)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the recent additions and the cache excepted)."""
        return self._slots.nbytes

    # -- lookups ---------------------------------------------------------------------------------

    def _matches(self, sig: Signature) -> list[Match]:
        """Every earlier near-duplicate of `sig`, best first (see `find`)."""
        keys = [self._slots.key(slot) for slot in self._slots.candidates(self._hashes(sig))]
        if not keys:
            return []
        stored = self._signatures(keys)
        if sig.is_exact:
            exact = sig.exact_key
            return [Match(k, 1.0) for k in keys if k in stored and stored[k].exact_key == exact]
        values = {
            k: s.hashvalues
            for k in sorted(stored)
            if (s := stored[k]).num_perm == self.num_perm and not s.is_exact
        }
        return ranked_matches(sig.values(), values, self._min_matches)

    def _hashes(self, sig: Signature) -> np.ndarray:
        """The lookup hashes of `sig`: one per band, or one of its exact key."""
        if sig.is_exact:
            return np.frombuffer(sig.exact_key[:8], dtype="<u8").astype(np.uint64) ^ _EXACT_SALT
        if sig.num_perm != self.num_perm:
            raise ValueError(f"signature has {sig.num_perm} values, the index {self.num_perm}")
        grouped = np.frombuffer(sig.hashvalues, dtype=_VALUES, count=self.bands * self.rows)
        return _band_sums(grouped.reshape(self.bands, self.rows), self.bands, self.rows)

    def _signatures(self, keys: list[str]) -> dict[str, Signature]:
        """The signatures of `keys`, from the cache or the store (a key gone is left out)."""
        found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = [k for k in keys if k not in found]
        if missing:
            for key, data in self.store.signatures_of(missing).items():
                found[key] = self._remember(key, Signature.from_bytes(data))
        for key in found:
            self._cache.move_to_end(key)
        return found

    def _remember(self, key: str, sig: Signature) -> Signature:
        self._cache[key] = sig
        if len(self._cache) > CACHE_SIGNATURES:
            self._cache.popitem(last=False)
        return sig

    def _snapshot_every(self) -> int:
        return max(SNAPSHOT_EVERY, len(self) // 4)

    # -- loading ---------------------------------------------------------------------------------

    def _recomputed(
        self, rows: Iterable[tuple[str, bytes]], unreadable: list[str]
    ) -> Iterator[tuple[str, bytes]]:
        """(key, lookup hashes) of stored signatures; an unreadable one is logged and its key
        put in `unreadable`."""
        for key, data in rows:
            try:
                hashes = self._hashes(Signature.from_bytes(data))
            except ValueError as exc:
                log.warning("near-duplicate signature unreadable hash=%s error=%s", key, exc)
                unreadable.append(key)
                continue
            yield key, hashes.astype("<u8").tobytes()

    def _extend(self, rows: Iterable[tuple[int, str, bytes]]) -> int:
        """Add (store slot, key, lookup hashes) rows in the order they were added, a chunk at a
        time so that no Python object per row outlives its chunk; returns how many."""
        count = 0
        rows = iter(rows)
        while chunk := list(islice(rows, LOAD_CHUNK)):
            lookups = [lookup for _, _, lookup in chunk]
            self._slots.extend(
                [key for _, key, _ in chunk],
                np.fromiter((stored for stored, _, _ in chunk), np.int64, len(chunk)),
                np.frombuffer(b"".join(lookups), dtype="<u8").astype(np.uint64),
                np.fromiter((len(b) // 8 for b in lookups), np.int64, len(chunk)),
            )
            count += len(chunk)
        return count
