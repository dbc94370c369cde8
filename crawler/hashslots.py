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

    table = HashSlots()
    table.extend(hashes, slots)                       # many at once, as the index loads
    table.add(np.array([h1, h2], dtype=np.uint64), slot=7)
    table.lookup(query_hashes)                        # -> array of slots, may repeat
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

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
        """A table of the entries `arrays()` gave (sorted by hash), as a snapshot keeps them."""
        table = cls()
        table._hashes = np.ascontiguousarray(hashes, dtype=_HASH)
        table._slots = np.ascontiguousarray(slots, dtype=_SLOT)
        return table

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, slots) of every entry, sorted by hash, the recent ones merged in."""
        self.merge()
        return self._hashes, self._slots

    def extend(self, hashes: np.ndarray, slots: np.ndarray) -> None:
        """Add many entries at once (one sort of the new ones, one insertion)."""
        order = np.argsort(hashes)
        hashes, slots = hashes[order].astype(_HASH), slots[order].astype(_SLOT)
        if not len(self._hashes):
            self._hashes, self._slots = hashes, slots
            return
        at = self._hashes.searchsorted(hashes, side="right")
        self._hashes = np.insert(self._hashes, at, hashes)
        self._slots = np.insert(self._slots, at, slots)

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
            hit = self._hashes.take(at, mode="clip") == hashes
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
            self._recent.clear()
            self._recent_count = 0
            self.extend(new_hashes, new_slots)
            hashes, slots = self._hashes, self._slots
        if alive is not None:
            keep = alive[slots]
            if not keep.all():
                hashes, slots = hashes[keep], slots[keep]
        self._hashes, self._slots = hashes, slots

    def renumber(self, new_slot: np.ndarray, alive: np.ndarray) -> None:
        """Drop the entries of dead slots and move slot s to `new_slot[s]`."""
        self.merge(alive)
        self._slots = new_slot[self._slots].astype(_SLOT)


class Slots:
    """The in-memory part of the near-duplicate index: one slot per signature kept.

    Per slot: its key (UTF-8, in one numpy bytes array), the store's number for it (`stored`:
    the state database's slot, increasing in the order added) and whether it is alive; a
    `HashSlots` of lookup hashes (LSH bands) -> slot and one of key hashes -> slot. A removed
    slot is dead until the dead outnumber the live, when the live are renumbered 0..n-1.
    `to_bytes` / `from_bytes` keep the arrays whole (a snapshot of the index)."""

    def __init__(self) -> None:
        self.lookups = HashSlots()  # lookup hash -> slot
        self._by_key = HashSlots()  # key hash -> slot
        self._keys = np.zeros(0, dtype="S1")
        self._stored = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._used = 0  # slots handed out
        self._live = 0
        self.last_stored = 0  # the highest store number seen

    def __len__(self) -> int:
        return self._live

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the recent entries of the tables excepted)."""
        arrays = (self._keys, self._stored, self._alive)
        return self.lookups.nbytes + self._by_key.nbytes + sum(a.nbytes for a in arrays)

    def key(self, slot: int) -> str:
        return bytes(self._keys[slot]).decode()

    def slot_of(self, key: str) -> int | None:
        encoded = key.encode()
        for slot in self._by_key.lookup(_key_hash(encoded)):
            if self._alive[slot] and self._keys[slot] == encoded:
                return slot
        return None

    def candidates(self, hashes: np.ndarray) -> list[int]:
        """The live slots with any of these lookup hashes, in the order they were added."""
        return sorted({slot for slot in self.lookups.lookup(hashes) if self._alive[slot]})

    def add(self, key: str, hashes: np.ndarray, stored: int) -> None:
        """A new slot for `key` (not there yet) with these lookup hashes."""
        encoded = key.encode()
        if self._used == len(self._keys):
            size = max(1024, 2 * len(self._keys))
            self._keys = np.resize(self._keys, size)
            self._stored = np.resize(self._stored, size)
            self._alive = np.resize(self._alive, size)
            self._alive[self._used :] = False
        if len(encoded) > self._keys.dtype.itemsize:
            self._keys = self._keys.astype(f"S{len(encoded)}")
        slot = self._used
        self._keys[slot], self._stored[slot], self._alive[slot] = encoded, stored, True
        self._used += 1
        self._live += 1
        self.last_stored = max(self.last_stored, stored)
        self.lookups.add(hashes, slot)
        self._by_key.add(_key_hash(encoded), slot)
        for table in (self.lookups, self._by_key):
            if table.pending >= MERGE_EVERY:
                table.merge(self._alive)

    def extend(
        self, keys: list[str], stored: np.ndarray, hashes: np.ndarray, counts: np.ndarray
    ) -> None:
        """New slots for many keys at once: `counts[i]` of `hashes` are the i-th key's."""
        if not keys:
            return
        self._trim()
        first = self._used
        encoded = np.array([k.encode() for k in keys], dtype=bytes)
        self._keys = np.concatenate([self._keys[: self._used], encoded])
        self._stored = np.concatenate([self._stored[: self._used], stored.astype(np.int64)])
        self._alive = np.concatenate([self._alive[: self._used], np.ones(len(keys), dtype=bool)])
        self._used += len(keys)
        self._live += len(keys)
        self.last_stored = max(self.last_stored, int(stored.max()))
        new_slots = np.arange(first, self._used, dtype=_SLOT)
        self.lookups.extend(hashes, np.repeat(new_slots, counts))
        self._by_key.extend(key_hashes(encoded), new_slots)

    def remove(self, key: str) -> bool:
        """Mark the slot of `key` dead; False if there is none."""
        slot = self.slot_of(key)
        if slot is None:
            return False
        self._kill(np.array([slot]))
        return True

    def forget_stored(self, stored: list[int]) -> None:
        """Mark dead the slots with these store numbers (those not here are ignored)."""
        if not stored or not self._used:
            return
        numbers = self._stored[: self._used]  # increasing: slots are added in store order
        wanted = np.array(sorted(stored), dtype=np.int64)
        at = np.minimum(numbers.searchsorted(wanted), self._used - 1)
        slots = at[numbers[at] == wanted]
        self._kill(slots[self._alive[slots]])

    def _kill(self, slots: np.ndarray) -> None:
        self._alive[slots] = False
        self._live -= len(slots)
        if self._used - self._live > max(MERGE_EVERY, self._live):
            self.compact()

    def compact(self) -> None:
        """Renumber the live slots 0..n-1, dropping the dead ones and their entries."""
        alive = self._alive[: self._used]
        new_slot = (np.cumsum(alive) - 1).astype(_SLOT)
        for table in (self.lookups, self._by_key):
            table.renumber(new_slot, alive)
        self._keys = self._keys[: self._used][alive]
        self._stored = self._stored[: self._used][alive]
        self._alive = np.ones(len(self._keys), dtype=bool)
        self._used = self._live = len(self._keys)

    def _trim(self) -> None:
        self._keys, self._stored = self._keys[: self._used], self._stored[: self._used]
        self._alive = self._alive[: self._used]

    def to_bytes(self) -> bytes:
        """Every array, the dead slots compacted away: a JSON header line naming each array's
        dtype and length, then the arrays' bytes one after another."""
        self.compact()
        lookup_hashes, lookup_slots = self.lookups.arrays()
        key_hash, key_slots = self._by_key.arrays()
        arrays = {
            "keys": self._keys,
            "stored": self._stored,
            "lookup_hashes": lookup_hashes,
            "lookup_slots": lookup_slots,
            "key_hashes": key_hash,
            "key_slots": key_slots,
        }
        header = {
            "last_stored": self.last_stored,
            "arrays": [[name, a.dtype.str, len(a)] for name, a in arrays.items()],
        }
        parts = [json.dumps(header).encode() + b"\n"]
        parts += [np.ascontiguousarray(a).tobytes() for a in arrays.values()]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Slots:
        """The slots `to_bytes` kept; ValueError for anything else."""
        try:
            offset = data.index(b"\n") + 1
            header = json.loads(data[:offset])
            arrays = {}
            for name, dtype, length in header["arrays"]:
                kind = np.dtype(dtype)
                arrays[name] = np.frombuffer(data, kind, count=length, offset=offset).copy()
                offset += kind.itemsize * length
            slots = cls()
            slots._keys, slots._stored = arrays["keys"], arrays["stored"]
            slots.last_stored = int(header["last_stored"])
            slots.lookups = HashSlots.from_arrays(arrays["lookup_hashes"], arrays["lookup_slots"])
            slots._by_key = HashSlots.from_arrays(arrays["key_hashes"], arrays["key_slots"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a snapshot of the index: {exc}") from None
        slots._used = slots._live = len(slots._keys)
        slots._alive = np.ones(slots._used, dtype=bool)
        return slots


@lru_cache(maxsize=1)
def _key_multipliers() -> np.ndarray:
    """Odd 64-bit multipliers for the 8-byte words of a key (keys of up to 256 bytes)."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(f"key word {n}".encode(), digest_size=8).digest()) | 1
            for n in range(32)
        ],
        dtype=np.uint64,
    )


def key_hashes(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each key of a numpy bytes array (UTF-8, zero-padded): its 8-byte
    words weighted and summed modulo 2**64, so the array's width does not change a hash."""
    width = -(-keys.dtype.itemsize // 8) * 8
    if width > 8 * len(_key_multipliers()):
        raise ValueError("keys longer than 256 bytes")
    words = np.ascontiguousarray(keys, dtype=f"S{width}").view("<u8").reshape(len(keys), -1)
    multipliers = _key_multipliers()[: words.shape[1]]
    hashes: np.ndarray = (words.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)
    return hashes


def _key_hash(key: bytes) -> np.ndarray:
    return key_hashes(np.array([key]))
