"""Synthetic near-duplicate signatures, stored as a running daemon leaves them (each with its
band hashes), for the benchmarks that need a month of news in the state database."""

from __future__ import annotations

import numpy as np

from crawler.neardup import NUM_PERM, NearDuplicateIndex, Signature, band_hashes
from crawler.state import State


def seed_signatures(state: State, count: int, *, seed: int = 7) -> None:
    """Add `count` signatures of random bodies to `state`, with the lookups the daemon's index
    keeps for them, in one transaction; keys are as long as a content hash."""
    index = NearDuplicateIndex.load(state)  # for its layout: the daemon's
    rng = np.random.default_rng(seed)
    with state.transaction():
        for start in range(0, count, 10_000):
            size = min(10_000, count - start)
            values = rng.integers(0, 2**32, size=(size, NUM_PERM), dtype=np.uint32)
            lookups = band_hashes(values, index.bands, index.rows).astype("<u8")
            for n in range(size):
                state.add_signature(
                    f"{start + n:064x}",
                    Signature(hashvalues=values[n].tobytes()).to_bytes(),
                    lookup=lookups[n].tobytes(),
                )
