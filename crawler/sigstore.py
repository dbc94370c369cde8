"""Where the near-duplicate index (crawler/neardup.py) keeps the signatures themselves.

The index holds only its lookup arrays in memory; the signatures (`Signature.to_bytes()`,
opaque here), their lookup hashes and a snapshot of the arrays live in a `SignatureStore`:
the state database (`crawler.state.State`, whose methods document each call) for the
daemon, or a `MemoryStore` for an index that lives only as long as its process (tests,
benchmarks, one-off comparisons).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class SignatureStore(Protocol):
    """Where the index keeps the signatures themselves (`Signature.to_bytes()`, opaque here)
    with their lookup hashes and a snapshot of its arrays: the state database
    (`crawler.state.State`, which documents each method) or `MemoryStore`."""

    def add_signature(self, content_hash: str, signature: bytes, *, lookup: bytes) -> int: ...

    def forget_signature(self, content_hash: str) -> None: ...

    def signatures_of(self, content_hashes: list[str]) -> dict[str, bytes]: ...

    def signatures(self) -> Iterable[tuple[str, bytes]]: ...

    def signature_lookups(
        self, layout: str, after: int = 0
    ) -> Iterable[tuple[int, str, bytes]] | None: ...

    def forgotten_signature_slots(self) -> list[int]: ...

    def signature_snapshot(self, layout: str) -> tuple[int, bytes] | None: ...

    def save_signature_snapshot(self, layout: str, last_slot: int, arrays: bytes) -> None: ...

    def replace_signature_lookups(self, layout: str, rows: Iterable[tuple[str, bytes]]) -> None: ...


class MemoryStore:
    """A `SignatureStore` in a dict, for an index that lives only as long as its process."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, bytes, bytes]] = {}
        self._layout: str | None = None
        self._last_slot = 0

    def add_signature(self, content_hash: str, signature: bytes, *, lookup: bytes) -> int:
        self._rows.pop(content_hash, None)
        self._last_slot += 1
        self._rows[content_hash] = (self._last_slot, signature, lookup)
        return self._last_slot

    def forget_signature(self, content_hash: str) -> None:
        self._rows.pop(content_hash, None)

    def signatures_of(self, content_hashes: list[str]) -> dict[str, bytes]:
        return {k: self._rows[k][1] for k in content_hashes if k in self._rows}

    def signatures(self) -> Iterable[tuple[str, bytes]]:
        return [(k, row[1]) for k, row in self._rows.items()]

    def signature_lookups(
        self, layout: str, after: int = 0
    ) -> Iterable[tuple[int, str, bytes]] | None:
        if self._layout != layout:
            return None
        return [(row[0], k, row[2]) for k, row in self._rows.items() if row[0] > after]

    def forgotten_signature_slots(self) -> list[int]:
        return []

    def signature_snapshot(self, layout: str) -> tuple[int, bytes] | None:
        return None  # the index is never loaded again

    def save_signature_snapshot(self, layout: str, last_slot: int, arrays: bytes) -> None:
        pass

    def replace_signature_lookups(self, layout: str, rows: Iterable[tuple[str, bytes]]) -> None:
        for key, lookup in list(rows):
            self._last_slot += 1
            self._rows[key] = (self._last_slot, self._rows[key][1], lookup)
        self._layout = layout
