"""Near-duplicate detection: MinHash over word shingles, looked up in a MinHash LSH index.

The same wire story reaches a reader from many outlets, each wrapped in its own byline, share
buttons or "Reporting by" line, sometimes trimmed at the end; a newsroom re-publishes its own
story with a correction. Those copies are not byte-equal, so the exact hash misses them. Here a
body is reduced to a `Signature`: the MinHash of its word shingles (over `normalize_text`), or,
for a body too short for shingles to say much, an exact key of its normalised title and body.
`NearDuplicateIndex` keeps the signatures of the bodies already accepted and answers "which
earlier body is this one a near-duplicate of?".

Usage::

    index = NearDuplicateIndex()
    sig = signature(title, text)          # pure: may run in a worker process
    match = index.find_or_add(item_id, sig, accept=lambda key, similarity: True)
    if match is None:                     # new: kept under item_id; persist sig.to_bytes()
        ...
    else:                                 # match.key, match.similarity: the earlier body
        ...

`accept` is how the caller adds its own test to the wording's: crawler/dedup.py passes the
check that the two bodies' facts agree, so the best candidate whose facts agree wins.

Signatures are stable across processes and runs (the shingle hash is CRC-32 and the MinHash
permutations come from a fixed seed and scheme), so the state database can keep
`to_bytes()` and rebuild the index on start by calling `add()` for each row. The shingle size,
the short-body cut-off and `DEFAULT_THRESHOLD` were chosen with `bench/dedup.py`; changing
`SHINGLE_SIZE`, `NUM_PERM` or the hashing makes stored signatures incomparable with new ones.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from crawler.fingerprint import Facts, facts, normalize_text

__all__ = [
    "DEFAULT_THRESHOLD",
    "NUM_PERM",
    "SHINGLE_SIZE",
    "SHORT_BODY_WORDS",
    "Match",
    "NearDuplicateIndex",
    "Signature",
    "best_candidate",
    "lsh_params",
    "shingles",
    "signature",
]

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


@lru_cache(maxsize=8)
def _empty_minhash(num_perm: int) -> MinHash:
    """A fresh MinHash whose permutations are computed once per process and copied."""
    return MinHash(num_perm=num_perm, seed=_SEED, scheme=_SCHEME, hashfunc=int)


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
    MinHash of `num_perm` values; the title is left out, so a new headline does not hide a
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
    minhash = _empty_minhash(num_perm).copy()
    minhash.update_batch([zlib.crc32(s.encode()) for s in shingles(words, shingle_size)])
    return Signature(hashvalues=minhash.hashvalues.astype(_VALUES).tobytes(), facts=facts(text))


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


class Match(NamedTuple):
    """An earlier body found for a query: its key and the estimated Jaccard similarity."""

    key: str
    similarity: float


Accept = Callable[[str, float], bool]
"""`accept(candidate_key, similarity)`: may the query be merged with this candidate?"""


def ranked_candidates(
    query: LeanMinHash, candidates: list[str], values: list[bytes], min_matches: int
) -> list[Match]:
    """The LSH candidates (with their stored MinHash values) with at least `min_matches` equal
    values, the highest estimated Jaccard similarity first, ties to the smallest key."""
    if not candidates:
        return []
    stored = np.frombuffer(b"".join(values), dtype=_VALUES)
    matches = (stored.reshape(len(candidates), -1) == query.hashvalues).sum(axis=1)
    size = len(query.hashvalues)
    ranked = sorted(
        (-int(n), str(k)) for k, n in zip(candidates, matches, strict=True) if n >= min_matches
    )
    return [Match(key, -negative / size) for negative, key in ranked]


def best_candidate(
    query: LeanMinHash, candidates: list[str], values: list[bytes], min_matches: int
) -> str | None:
    """Of the LSH candidates (with their stored MinHash values), the one with the most equal
    values (the highest estimated Jaccard similarity), if it has at least `min_matches`."""
    ranked = ranked_candidates(query, candidates, values, min_matches)
    return ranked[0].key if ranked else None


def first_accepted(key: str, matches: list[Match], accept: Accept | None) -> Match | None:
    """The first of `matches` (best first) other than `key` itself that `accept` takes."""
    for match in matches:
        if match.key != key and (accept is None or accept(match.key, match.similarity)):
            return match
    return None


class NearDuplicateIndex:
    """In-memory MinHash LSH index (datasketch.MinHashLSH) of the signatures kept.

    The state database persists the signatures and rebuilds this index on start by calling
    `add()` for each row. LSH candidates are verified with the estimated Jaccard similarity, so
    `find` answers only for bodies at or above `threshold`; short bodies (exact signatures) are
    found only by an equal key.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = NUM_PERM) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.num_perm = num_perm
        self._min_matches = math.ceil(threshold * num_perm - 1e-9)
        self._lsh = MinHashLSH(
            threshold=threshold, num_perm=num_perm, params=lsh_params(threshold, num_perm)
        )
        self._values: dict[str, bytes] = {}
        self._exact: dict[bytes, list[str]] = {}
        self._exact_of: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._values) + len(self._exact_of)

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._exact_of

    def find(self, sig: Signature) -> str | None:
        """Key of an earlier near-duplicate of `sig`, or None.

        Of several, the one with the highest estimated Jaccard similarity; ties go to the
        smallest key. For an exact signature, the first key added with the same exact key.
        """
        matches = self.matches(sig)
        return matches[0].key if matches else None

    def matches(self, sig: Signature) -> list[Match]:
        """Every earlier body at or above the threshold, best first (see `find`); for an
        exact signature, the keys with the same exact key (similarity 1.0) in the order added."""
        if sig.is_exact:
            return [Match(k, 1.0) for k in self._exact.get(sig.exact_key, [])]
        query = self._lean(sig)
        candidates = sorted(self._lsh.query(query))
        return ranked_candidates(
            query, candidates, [self._values[k] for k in candidates], self._min_matches
        )

    def find_or_add(self, key: str, sig: Signature, accept: Accept | None = None) -> Match | None:
        """The decision in one step: the best earlier body at or above the threshold (not `key`
        itself) that `accept(candidate_key, similarity)` takes (any, without `accept`), or None
        after keeping `sig` under `key`. The facts check of crawler/dedup.py is the `accept`."""
        earlier = first_accepted(key, self.matches(sig), accept)
        if earlier is not None:
            return earlier
        self.add(key, sig)
        return None

    def add(self, key: str, sig: Signature) -> None:
        """Keep `sig` under `key`; a key added again is replaced."""
        if key in self:
            self.remove(key)
        if sig.is_exact:
            self._exact.setdefault(sig.exact_key, []).append(key)
            self._exact_of[key] = sig.exact_key
            return
        self._lsh.insert(key, self._lean(sig), check_duplication=False)
        self._values[key] = sig.hashvalues

    def remove(self, key: str) -> None:
        """Forget `key` (retention expiry); a key that is not there is ignored."""
        if key in self._values:
            self._lsh.remove(key)
            del self._values[key]
            return
        exact_key = self._exact_of.pop(key, None)
        if exact_key is None:
            return
        owners = self._exact[exact_key]
        owners.remove(key)
        if not owners:
            del self._exact[exact_key]

    def _lean(self, sig: Signature) -> LeanMinHash:
        if sig.num_perm != self.num_perm:
            raise ValueError(f"signature has {sig.num_perm} values, the index {self.num_perm}")
        return LeanMinHash(seed=_SEED, hashvalues=sig.values(), scheme=_SCHEME)
