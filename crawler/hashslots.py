"""`HashSlots`: a compact multimap from 64-bit hashes to slot numbers, for the LSH index.

The near-duplicate index (crawler/neardup.py) keeps, for every signature, one 64-bit hash per
LSH band, and must answer "which slots have any of these hashes?". A dict of sets costs a
hundred bytes or more per entry; here an entry costs 12: the hashes sit in one sorted uint64
array with their slots in a parallel uint32 array, and a lookup is a binary search
(`numpy.searchsorted`). Entries added since the last merge wait in a small dict; the owner
merges it into the arrays once it holds `MERGE_EVERY` entries, in one pass (an insertion of a
sorted run, not a sort of everything).

Removal is the caller's: it marks a slot dead (its `alive` array), lookups may still return
a dead slot until the next merge drops its entries, and `renumber` moves every slot to a new
number when the caller compacts its slots.

    table = HashSlots.from_arrays(hashes, slots)      # e.g. loaded from the state database
    table.add(np.array([h1, h2], dtype=np.uint64), slot=7)
    table.lookup(query_hashes)                        # -> array of slots, may repeat
"""

from __future__ import annotations

import numpy as np

MERGE_EVERY = 8192
"""Entries kept in the dict of recent additions before they are merged into the arrays."""

_HASH = np.uint64
_SLOT = np.uint32


class HashSlots:
    """Sorted (hash, slot) arrays plus a dict of the entries added since the last merge."""

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=_HASH)
        self._slots = np.empty(0, dtype=_SLOT)
        self._recent: dict[int, list[int]] = {}
        self._recent_count = 0

    @classmethod
    def from_arrays(cls, hashes: np.ndarray, slots: np.ndarray) -> HashSlots:
        """A table of these entries at once (one sort), as when the index is loaded."""
        table = cls()
        order = np.argsort(hashes)
        table._hashes = np.ascontiguousarray(hashes[order], dtype=_HASH)
        table._slots = np.ascontiguousarray(slots[order], dtype=_SLOT)
        return table

    def __len__(self) -> int:
        return len(self._hashes) + self._recent_count

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the dict of recent entries is at most `MERGE_EVERY`)."""
        return int(self._hashes.nbytes + self._slots.nbytes)

    def add(self, hashes: np.ndarray, slot: int) -> None:
        """Add one entry per hash, all pointing at `slot`."""
        for value in hashes.tolist():
            self._recent.setdefault(value, []).append(slot)
        self._recent_count += len(hashes)

    @property
    def pending(self) -> int:
        """Entries added since the last merge; the owner merges once there are `MERGE_EVERY`."""
        return self._recent_count

    def lookup(self, hashes: np.ndarray) -> list[int]:
        """The slots of every entry whose hash is one of `hashes` (dead slots included)."""
        found: list[int] = []
        if len(self._hashes):
            at = self._hashes.searchsorted(hashes)
            hit = self._hashes[np.minimum(at, len(self._hashes) - 1)] == hashes
            if hit.any():  # seldom: most bodies share no band with any other
                ends = self._hashes.searchsorted(hashes[hit], side="right")
                for start, end in zip(at[hit].tolist(), ends.tolist(), strict=True):
                    found += self._slots[start:end].tolist()
        if self._recent:
            for value in hashes.tolist():
                found += self._recent.get(value, ())
        return found

    def merge(self, alive: np.ndarray | None = None) -> None:
        """Move the recent entries into the sorted arrays; with `alive` (a bool per slot), drop
        the entries of dead slots on the way."""
        hashes, slots = self._hashes, self._slots
        if self._recent:
            new_hashes = np.fromiter(
                (h for h, s in self._recent.items() for _ in s),
                dtype=_HASH,
                count=self._recent_count,
            )
            new_slots = np.fromiter(
                (slot for s in self._recent.values() for slot in s),
                dtype=_SLOT,
                count=self._recent_count,
            )
            order = np.argsort(new_hashes)
            new_hashes, new_slots = new_hashes[order], new_slots[order]
            at = np.searchsorted(hashes, new_hashes, side="right")
            hashes = np.insert(hashes, at, new_hashes)
            slots = np.insert(slots, at, new_slots)
            self._recent.clear()
            self._recent_count = 0
        if alive is not None:
            keep = alive[slots]
            if not keep.all():
                hashes, slots = hashes[keep], slots[keep]
        self._hashes, self._slots = hashes, slots

    def renumber(self, new_slot: np.ndarray, alive: np.ndarray) -> None:
        """Drop the entries of dead slots and move slot s to `new_slot[s]`."""
        self.merge(alive)
        self._slots = new_slot[self._slots].astype(_SLOT)
