"""The state database: one SQLite file (WAL) under the output folder, and every query on it.

It holds the sources and their HTTP validators, poll history and errors, the URLs and feed entries
already seen, the fingerprints of bodies already seen, and the items that were queued together
with who else reported them. This module owns the schema and its migrations; SQL appears nowhere
else. Times are Unix seconds (UTC).

    with State("output/state.db") as state:
        if not state.url_seen("https://example.org/a"):
            ...
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.errors import StateError

if TYPE_CHECKING:
    from crawler.neardup import NearDuplicateIndex

# Each entry moves the schema one version up; never edit an entry once released.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        url TEXT NOT NULL UNIQUE,
        name TEXT,
        etag TEXT,
        last_modified TEXT,
        first_polled_at REAL,
        last_polled_at REAL,
        last_status INTEGER,
        last_new_at REAL,
        error_count INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_poll_at REAL
    );
    CREATE TABLE seen_urls (
        url TEXT PRIMARY KEY,
        seen_at REAL NOT NULL,
        outcome TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE seen_entries (
        source_id INTEGER NOT NULL,
        entry_key TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (source_id, entry_key)
    ) WITHOUT ROWID;
    CREATE TABLE fingerprints (
        hash TEXT PRIMARY KEY,
        item_id TEXT,
        url TEXT NOT NULL,
        seen_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE items (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        canonical_url TEXT,
        title TEXT,
        source_name TEXT,
        source_url TEXT,
        published TEXT,
        content_hash TEXT,
        queued_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE also_reported (
        item_id TEXT NOT NULL,
        url TEXT NOT NULL,
        source_name TEXT,
        seen_at REAL NOT NULL,
        PRIMARY KEY (item_id, url)
    ) WITHOUT ROWID;
    """,
    """
    ALTER TABLE sources ADD COLUMN entry_gap REAL;
    ALTER TABLE sources ADD COLUMN ttl REAL;
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        item_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        mode TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_error TEXT,
        sent_at REAL,
        UNIQUE (topic, item_id, recipient)
    );
    CREATE INDEX outbox_pending ON outbox (status, topic, recipient, id);
    """,
    """
    CREATE TABLE archive (
        url TEXT PRIMARY KEY,
        fetched_at REAL NOT NULL,
        item_id TEXT,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX archive_fetched ON archive (fetched_at);
    """,
    """
    CREATE TABLE signatures (
        hash TEXT PRIMARY KEY,
        seen_at REAL NOT NULL,
        signature BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX signatures_seen ON signatures (seen_at);
    """,
    """
    ALTER TABLE outbox ADD COLUMN message_key TEXT;
    """,
    """
    CREATE TABLE signature_lookups (
        slot INTEGER PRIMARY KEY AUTOINCREMENT,
        hash TEXT NOT NULL UNIQUE REFERENCES signatures (hash) ON DELETE CASCADE,
        lookup BLOB NOT NULL
    );
    CREATE TABLE signature_lookups_forgotten (
        slot INTEGER PRIMARY KEY
    );
    CREATE TABLE signature_snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        layout TEXT NOT NULL,
        last_slot INTEGER NOT NULL,
        arrays BLOB NOT NULL
    );
    """,
)


@dataclass(frozen=True, slots=True)
class SourceRow:
    id: int
    kind: str
    url: str
    name: str | None
    etag: str | None
    last_modified: str | None
    first_polled_at: float | None
    last_polled_at: float | None
    last_status: int | None
    last_new_at: float | None
    error_count: int
    last_error: str | None
    next_poll_at: float | None
    entry_gap: float | None  # average seconds between new entries (crawler/schedule.py)
    ttl: float | None  # seconds the source says it may be cached


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    item_id: str
    recipient: str
    mode: str  # "immediate" or "digest"
    payload: str  # JSON of the alert's item, as it was when queued
    created_at: float
    status: str  # "pending", "sent" or "failed"
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    sent_at: float | None
    message_key: str | None  # the message these rows go out in, fixed before its first attempt


@dataclass(frozen=True, slots=True)
class Alert:
    """An outbox row to write: one topic's alert about one item, for one recipient."""

    topic: str
    recipient: str
    mode: str
    payload: str


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """What the database keeps of a queued item (the item itself is the queue file)."""

    id: str
    url: str
    canonical_url: str | None
    title: str | None
    source_name: str | None
    source_url: str | None
    published: str | None
    content_hash: str | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ItemRecord:
        return cls(
            id=item["id"],
            url=item["url"],
            canonical_url=item["canonical_url"],
            title=item["title"],
            source_name=item["source"]["name"],
            source_url=item["source"]["url"],
            published=item["published"],
            content_hash=item["content_hash"],
        )


class SendLock:
    """Who sends alerts. In one process the `Sender`'s own asyncio lock is enough: this one is
    always free (in cluster mode, `crawler.cluster.outbox.SendLock` is one for all workers)."""

    def acquire(self) -> bool:
        return True

    def keep(self) -> bool:
        return True

    def release(self) -> None:
        pass


class State:
    """One connection to the state database. Not shared across threads."""

    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)  # a write that failed raises one

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a crash of crawler (not of the machine) without an fsync;
            # decisions that deliver an item are written with FULL (record_article).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{self.path}: cannot use the state database: {exc}; "
                "`crawler repair` rebuilds it from the queue folder"
            ) from None

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"{self.path}: made by a newer crawler (schema {version}); upgrade crawler"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together or not at all; a `durable` commit is fsynced.
        Inside another transaction, this one is part of it."""
        if self._db.in_transaction:
            yield self._db
            return
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT (disk full) leaves it open
                    self._db.execute("ROLLBACK")
                raise
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    # -- sources --------------------------------------------------------------------------------

    def source(
        self, kind: str, url: str, name: str | None = None, *, source_id: int | None = None
    ) -> SourceRow:
        """The row of a source, created on first use (with `source_id` if given)."""
        self._db.execute(
            "INSERT INTO sources (id, kind, url, name) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(url) DO UPDATE SET name = coalesce(excluded.name, name)",
            (source_id, kind, url, name),
        )
        row = self._db.execute("SELECT * FROM sources WHERE url = ?", (url,)).fetchone()
        return SourceRow(*row)

    def sources(self) -> list[SourceRow]:
        return [SourceRow(*row) for row in self._db.execute("SELECT * FROM sources ORDER BY id")]

    def record_poll(
        self,
        source_id: int,
        *,
        status: int | None,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        name: str | None = None,
        new_entries: int = 0,
        entry_gap: float | None = None,
        ttl: float | None = None,
        next_poll_at: float | None = None,
        now: float | None = None,
    ) -> None:
        """A poll of a source ended: keep its validators and schedule, reset or count errors."""
        now = time.time() if now is None else now
        if error is None:
            self._db.execute(
                "UPDATE sources SET last_polled_at = ?, first_polled_at = coalesce("
                "first_polled_at, ?), last_status = ?, error_count = 0, last_error = NULL, "
                "etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), "
                "name = coalesce(name, ?), last_new_at = CASE WHEN ? > 0 THEN ? "
                "ELSE last_new_at END, entry_gap = coalesce(?, entry_gap), "
                "ttl = coalesce(?, ttl), next_poll_at = ? WHERE id = ?",
                (
                    now,
                    now,
                    status,
                    etag,
                    last_modified,
                    name,
                    new_entries,
                    now,
                    entry_gap,
                    ttl,
                    next_poll_at,
                    source_id,
                ),
            )
        else:
            self._db.execute(
                "UPDATE sources SET last_polled_at = ?, last_status = ?, "
                "error_count = error_count + 1, last_error = ?, next_poll_at = ? WHERE id = ?",
                (now, status, error, next_poll_at, source_id),
            )

    def source_by_id(self, source_id: int) -> SourceRow:
        row = self._db.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
        return SourceRow(*row)

    def replace_source(self, row: SourceRow) -> None:
        """Store a whole source row as it is (a row another process kept, in cluster mode)."""
        self._db.execute(
            "INSERT OR REPLACE INTO sources (id, kind, url, name, etag, last_modified, "
            "first_polled_at, last_polled_at, last_status, last_new_at, error_count, last_error, "
            "next_poll_at, entry_gap, ttl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            astuple(row),
        )

    # -- the daemon -----------------------------------------------------------------------------

    def set_meta(self, key: str, value: str | None) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # -- what was seen --------------------------------------------------------------------------

    def entry_seen(self, source_id: int, key: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM seen_entries WHERE source_id = ? AND entry_key = ?", (source_id, key)
        ).fetchone()
        return row is not None

    def mark_entries(self, source_id: int, keys: Iterable[str], now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._db.executemany(
            "INSERT OR IGNORE INTO seen_entries (source_id, entry_key, seen_at) VALUES (?, ?, ?)",
            [(source_id, key, now) for key in keys],
        )

    def url_seen(self, url: str) -> bool:
        row = self._db.execute("SELECT 1 FROM seen_urls WHERE url = ?", (url,)).fetchone()
        return row is not None

    def mark_urls(self, urls: Iterable[str], outcome: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._db.executemany(
            "INSERT OR IGNORE INTO seen_urls (url, seen_at, outcome) VALUES (?, ?, ?)",
            [(url, now, outcome) for url in set(urls)],
        )

    def claim_fingerprint(self, content_hash: str, url: str) -> tuple[str | None, str] | None:
        """Claim a body for the page at `url`: None if it is new (the page may go on), else the
        owner as `fingerprint_owner` gives it. In one process the item pipelines decide one page
        at a time, so the check is the claim; the claim becomes the fingerprint row when the
        page's decision is recorded (`record_article`)."""
        return self.fingerprint_owner(content_hash)

    def near_duplicate_index(self, threshold: float) -> NearDuplicateIndex:
        """The index of near-duplicate signatures, loaded from this database (its store)."""
        from crawler.neardup import NearDuplicateIndex

        return NearDuplicateIndex.load(self, threshold)

    def fingerprint_owner(self, content_hash: str) -> tuple[str | None, str] | None:
        """(item id or None, first URL) of the first article with this body, if any."""
        row = self._db.execute(
            "SELECT item_id, url FROM fingerprints WHERE hash = ?", (content_hash,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def record_article(
        self,
        *,
        urls: Iterable[str],
        outcome: str,
        content_hash: str | None = None,
        entry: tuple[int, str] | None = None,
        item: ItemRecord | None = None,
        alerts: Iterable[Alert] = (),
        duplicate_of: str | None = None,
        now: float | None = None,
    ) -> None:
        """An article was decided (queued, off-topic, duplicate...): remember its URLs, the feed
        entry (source id, entry key) that linked to it, its fingerprint (owned by the item, or by
        the item it duplicates) and the item with its alert rows, atomically."""
        now = time.time() if now is None else now
        urls = list(urls)
        with self.transaction(durable=item is not None):
            self.mark_urls(urls, outcome, now)
            if entry is not None:
                self.mark_entries(entry[0], [entry[1]], now)
            if content_hash is not None:
                self._db.execute(
                    "INSERT OR IGNORE INTO fingerprints (hash, item_id, url, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    (content_hash, item.id if item else duplicate_of, urls[0], now),
                )
            if item is not None:
                self._db.execute(
                    "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.id,
                        item.url,
                        item.canonical_url,
                        item.title,
                        item.source_name,
                        item.source_url,
                        item.published,
                        item.content_hash,
                        now,
                    ),
                )
                self._db.execute(
                    "UPDATE archive SET item_id = ? WHERE url = ?", (item.id, item.url)
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (topic, item_id, recipient, mode, payload, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [(a.topic, item.id, a.recipient, a.mode, a.payload, now) for a in alerts],
                )

    def publish(self, item: dict[str, Any]) -> None:
        """Hand a queued item to sinks beyond the queue folder (the Redis stream, in cluster
        mode); the folder is the only one here."""

    # -- near-duplicate signatures (the store of crawler.neardup.NearDuplicateIndex) -------------
    #
    # signatures: the signature of each body kept (Signature.to_bytes()), with when it was seen.
    # signature_lookups: its LSH band hashes, in the order added (slot); a lookup goes with
    #   its signature (ON DELETE CASCADE), and the slot of each one deleted is noted in
    #   signature_lookups_forgotten until the next snapshot.
    # signature_snapshot: the index's arrays as of `last_slot`, so that a start reads one blob
    #   plus the lookups added and forgotten since, not a row per signature.

    def add_signature(
        self,
        content_hash: str,
        signature: bytes,
        now: float | None = None,
        *,
        lookup: bytes | None = None,
    ) -> int:
        """The near-duplicate signature of a body; its owner is the hash's fingerprint row.
        With `lookup` (the index's band hashes of it) it replaces any signature kept under the
        hash and the new lookup's slot is returned; without, one already kept stays (and 0 is
        returned)."""
        now = time.time() if now is None else now
        if lookup is None:
            with self.transaction():
                added = self._db.execute(
                    "INSERT OR IGNORE INTO signatures (hash, seen_at, signature) VALUES (?, ?, ?)",
                    (content_hash, now, signature),
                )
                if added.rowcount:  # a signature without its lookup: computed at the next load
                    self.set_meta("signature-lookups", None)
            return 0
        with self.transaction():
            self._forget_signatures("hash = ?", (content_hash,))
            self._db.execute(
                "INSERT INTO signatures (hash, seen_at, signature) VALUES (?, ?, ?)",
                (content_hash, now, signature),
            )
            added = self._db.execute(
                "INSERT INTO signature_lookups (hash, lookup) VALUES (?, ?)", (content_hash, lookup)
            )
        return int(added.lastrowid or 0)

    def forget_signature(self, content_hash: str) -> None:
        with self.transaction():
            self._forget_signatures("hash = ?", (content_hash,))

    def purge_signatures(self, before: float) -> list[str]:
        """Forget signatures older than `before` (and their lookups); returns their hashes."""
        with self.transaction():
            gone = [
                row[0]
                for row in self._db.execute(
                    "SELECT hash FROM signatures WHERE seen_at < ?", (before,)
                )
            ]
            self._forget_signatures("seen_at < ?", (before,))
        return gone

    def _forget_signatures(self, where: str, params: tuple[Any, ...]) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO signature_lookups_forgotten (slot) SELECT slot FROM "
            f"signature_lookups WHERE hash IN (SELECT hash FROM signatures WHERE {where})",
            params,
        )
        self._db.execute(f"DELETE FROM signatures WHERE {where}", params)

    def signatures_of(self, content_hashes: list[str]) -> dict[str, bytes]:
        """The signatures kept under these hashes (a hash without one is left out)."""
        found: dict[str, bytes] = {}
        for start in range(0, len(content_hashes), 500):
            chunk = content_hashes[start : start + 500]
            found.update(
                self._db.execute(
                    "SELECT hash, signature FROM signatures WHERE hash IN "
                    f"({', '.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return found

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """(hash, signature) of every signature kept, oldest first."""
        return iter(self._db.execute("SELECT hash, signature FROM signatures ORDER BY seen_at"))

    def signature_lookups(
        self, layout: str, after: int = 0
    ) -> Iterator[tuple[int, str, bytes]] | None:
        """(slot, hash, lookup) of the signatures added after slot `after`, in the order added;
        None unless every signature has its lookup and they were all made for `layout` (the
        meta row is cleared by a signature kept without one, and absent before lookups were)."""
        if self.meta("signature-lookups") != layout:
            return None
        return iter(
            self._db.execute(
                "SELECT slot, hash, lookup FROM signature_lookups WHERE slot > ? ORDER BY slot",
                (after,),
            )
        )

    def forgotten_signature_slots(self) -> list[int]:
        """The slots of the lookups deleted since the last snapshot."""
        return [row[0] for row in self._db.execute("SELECT slot FROM signature_lookups_forgotten")]

    def signature_snapshot(self, layout: str) -> tuple[int, bytes] | None:
        """(last slot, arrays) of the index's snapshot, if there is one made for `layout`."""
        row = self._db.execute(
            "SELECT last_slot, arrays FROM signature_snapshot WHERE layout = ?", (layout,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def save_signature_snapshot(self, layout: str, last_slot: int, arrays: bytes) -> None:
        """Keep the index's arrays, which hold every lookup up to `last_slot` not forgotten."""
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO signature_snapshot (id, layout, last_slot, arrays) "
                "VALUES (1, ?, ?, ?)",
                (layout, last_slot, arrays),
            )
            self._db.execute("DELETE FROM signature_lookups_forgotten")

    def replace_signature_lookups(self, layout: str, rows: Iterable[tuple[str, bytes]]) -> None:
        """Replace every lookup with `rows` (hash, lookup), made for `layout`."""
        with self.transaction():
            self._db.execute("DELETE FROM signature_lookups")
            self._db.execute("DELETE FROM signature_lookups_forgotten")
            self._db.execute("DELETE FROM signature_snapshot")
            self._db.executemany("INSERT INTO signature_lookups (hash, lookup) VALUES (?, ?)", rows)
            self.set_meta("signature-lookups", layout)

    def item_known(self, item_id: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is not None
        )

    def record_also_reported(
        self, item_id: str, url: str, source_name: str | None, now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        self._db.execute(
            "INSERT OR IGNORE INTO also_reported VALUES (?, ?, ?, ?)",
            (item_id, url, source_name, now),
        )

    def also_reported(self, item_id: str) -> list[tuple[str, str | None]]:
        return list(
            self._db.execute(
                "SELECT url, source_name FROM also_reported WHERE item_id = ? ORDER BY seen_at",
                (item_id,),
            )
        )

    # -- the archive of recent articles -----------------------------------------------------------

    def archive_article(self, record: dict[str, Any], now: float | None = None) -> None:
        """Keep an extracted article (its item record, compressed) for topic tests and backfill."""
        now = time.time() if now is None else now
        data = zlib.compress(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        self._db.execute(
            "INSERT OR REPLACE INTO archive (url, fetched_at, item_id, record) VALUES (?, ?, ?, ?)",
            (record["url"], now, record.get("id"), data),
        )

    def archived(self, since: float) -> Iterator[tuple[str | None, dict[str, Any]]]:
        """(item id or None, record) of every article archived since `since`, oldest first."""
        rows = self._db.execute(
            "SELECT item_id, record FROM archive WHERE fetched_at >= ? ORDER BY fetched_at",
            (since,),
        ).fetchall()
        for item_id, data in rows:
            yield item_id, json.loads(zlib.decompress(data))

    def purge_archive(self, before: float) -> int:
        return self._db.execute("DELETE FROM archive WHERE fetched_at < ?", (before,)).rowcount

    # -- the alert outbox ------------------------------------------------------------------------

    def send_lock(self, ttl: float) -> SendLock:
        """The lock to hold while sending alerts; `ttl`: seconds it may be held unrenewed."""
        return SendLock()

    def pending_alerts(self, now: float) -> list[OutboxRow]:
        """Rows waiting to be sent whose next attempt is due, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE status = 'pending' AND "
            "(next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id",
            (now,),
        )
        return [OutboxRow(*row) for row in rows]

    def oldest_pending_alert(self, topic: str) -> float | None:
        row = self._db.execute(
            "SELECT min(created_at) FROM outbox WHERE status = 'pending' AND topic = ?", (topic,)
        ).fetchone()
        return row[0]

    def assign_message(self, ids: list[int], message_key: str) -> None:
        """Fix which message these rows go out in, before it is first sent, so a retry (or a
        restart) sends that same message again under the same Message-ID."""
        with self.transaction(durable=True):
            self._db.executemany(
                "UPDATE outbox SET message_key = ? WHERE id = ?",
                [(message_key, row_id) for row_id in ids],
            )

    def alerts_sent(self, ids: list[int], now: float) -> None:
        with self.transaction(durable=True):
            self._db.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                [(now, row_id) for row_id in ids],
            )

    def alerts_deferred(self, ids: list[int], error: str, retry_at: float) -> None:
        with self.transaction():
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE id = ?",
                [(retry_at, error, row_id) for row_id in ids],
            )

    def alerts_failed(self, ids: list[int], error: str) -> None:
        with self.transaction():
            self._db.executemany(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                [(error, row_id) for row_id in ids],
            )

    def outbox_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, count(*) FROM outbox GROUP BY status")
        return {"pending": 0, "sent": 0, "failed": 0, **dict(rows)}

    def failed_alerts(self, limit: int = 20) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [OutboxRow(*row) for row in rows]

    def recent_also_reported(self, limit: int = 5) -> list[dict[str, Any]]:
        """The items most recently reported again by other outlets, with who reported them."""
        items = self._db.execute(
            "SELECT a.item_id, i.title, max(a.seen_at) AS last FROM also_reported a "
            "LEFT JOIN items i ON i.id = a.item_id GROUP BY a.item_id ORDER BY last DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            {
                "item_id": item_id,
                "title": title,
                "also_reported": [
                    {"url": url, "source": source} for url, source in self.also_reported(item_id)
                ],
            }
            for item_id, title, _ in items
        ]

    def counts(self) -> dict[str, Any]:
        """Totals for `crawler status`."""
        one = self._db.execute
        return {
            "sources": one("SELECT count(*) FROM sources").fetchone()[0],
            "seen_urls": one("SELECT count(*) FROM seen_urls").fetchone()[0],
            "items": one("SELECT count(*) FROM items").fetchone()[0],
            "also_reported": one("SELECT count(*) FROM also_reported").fetchone()[0],
        }
