"""The near-duplicate index as it was before the compact one: datasketch's MinHashLSH in memory.

Kept as the reference the compact `crawler.neardup.NearDuplicateIndex` must agree with
(tests/test_neardup_equivalence.py) and measure itself against (bench/dedup.py). Same
interface: `find` and `find_or_add` answer a `Match`, `add`, `remove`, `len`, `in`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from crawler.neardup import DEFAULT_THRESHOLD, NUM_PERM, Match, Signature, lsh_params

_SEED = 1
_SCHEME = "affine32"
_VALUES = np.dtype("<u4")


class ReferenceIndex:
    """datasketch.MinHashLSH with a LeanMinHash per signature and its values in a dict."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = NUM_PERM) -> None:
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

    def matches(self, sig: Signature) -> list[Match]:
        """Every verified candidate, best first (most equal values, then the smallest key)."""
        if sig.is_exact:
            return [Match(key, 1.0) for key in self._exact.get(sig.exact_key, [])]
        query = self._lean(sig)
        candidates = sorted(self._lsh.query(query))
        if not candidates:
            return []
        stored = np.frombuffer(b"".join(self._values[k] for k in candidates), dtype=_VALUES)
        equal = (stored.reshape(len(candidates), -1) == query.hashvalues).sum(axis=1)
        order = sorted(range(len(candidates)), key=lambda i: (-int(equal[i]), candidates[i]))
        return [
            Match(str(candidates[i]), int(equal[i]) / self.num_perm)
            for i in order
            if equal[i] >= self._min_matches
        ]

    def find(self, sig: Signature) -> Match | None:
        found = self.matches(sig)
        return found[0] if found else None

    def find_or_add(
        self, key: str, sig: Signature, accept: Callable[[str, float], bool] | None = None
    ) -> Match | None:
        for match in self.matches(sig):
            if match.key != key and (accept is None or accept(match.key, match.similarity)):
                return match
        self.add(key, sig)
        return None

    def add(self, key: str, sig: Signature) -> None:
        if key in self:
            self.remove(key)
        if sig.is_exact:
            self._exact.setdefault(sig.exact_key, []).append(key)
            self._exact_of[key] = sig.exact_key
            return
        self._lsh.insert(key, self._lean(sig), check_duplication=False)
        self._values[key] = sig.hashvalues

    def remove(self, key: str) -> None:
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
