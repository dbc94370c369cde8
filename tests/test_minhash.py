"""crawler.minhash gives datasketch's MinHash values, so stored signatures stay comparable."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from crawler.minhash import minhash


@pytest.mark.parametrize("size", [1, 2, 7, 200, 5000])
@pytest.mark.parametrize("num_perm", [16, 128])
def test_the_values_are_datasketchs(size: int, num_perm: int) -> None:
    rng = random.Random(size * num_perm)
    hashes = [rng.randrange(2**32) for _ in range(size)] + [0, 2**32 - 1]
    reference = MinHash(num_perm=num_perm, seed=1, scheme="affine32", hashfunc=int)
    reference.update_batch(hashes)
    assert np.array_equal(minhash(hashes, num_perm), reference.hashvalues)


def test_an_empty_set_has_the_largest_values() -> None:
    reference = MinHash(num_perm=32, seed=1, scheme="affine32", hashfunc=int)
    assert np.array_equal(minhash([], 32), reference.hashvalues)
