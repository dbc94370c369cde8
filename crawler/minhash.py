"""MinHash values of a set of 32-bit hashes, exactly as datasketch computes them.

`datasketch.MinHash(num_perm, seed=1, scheme="affine32")` fed with 32-bit hashes gives, for each
of `num_perm` permutations `h -> a * fmix32(h) + b (mod 2**32)`, the smallest value over the
set; `a` (odd) and `b` come from NumPy's `RandomState(seed)`. This module computes the same
values with NumPy alone. The reason is memory: importing datasketch imports SciPy (for its LSH
parameter search), about 45 MiB in every process that computes a signature, where NumPy costs
11. Stored signatures stay valid: a test compares both on random sets, and the cluster's
shared index still uses datasketch's LSH with the same values.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

# MurmurHash3's 32-bit finalizer (datasketch's `_fmix` for width 32)
_S1, _M1, _S2, _M2, _S3 = 16, np.uint32(0x85EBCA6B), 13, np.uint32(0xC2B2AE35), 16
_MAX = np.uint32(0xFFFFFFFF)


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The `a` and `b` of the affine permutations, as datasketch draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.flags.writeable = b.flags.writeable = False
    return a, b


def minhash(hashes: Iterable[int], num_perm: int, seed: int = 1) -> np.ndarray:
    """The `num_perm` MinHash values (uint32) of a set of 32-bit hashes; all 0xFFFFFFFF for
    an empty set."""
    hv = np.fromiter(hashes, dtype=np.uint32).reshape(-1, 1)
    if hv.size == 0:
        return np.full(num_perm, _MAX, dtype=np.uint32)
    hv = hv ^ (hv >> np.uint32(_S1))
    hv = hv * _M1
    hv = hv ^ (hv >> np.uint32(_S2))
    hv = hv * _M2
    hv = hv ^ (hv >> np.uint32(_S3))
    a, b = permutations(num_perm, seed)
    values: np.ndarray = (hv * a + b).min(axis=0)
    return values
