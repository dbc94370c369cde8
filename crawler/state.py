"""The state database: one SQLite file (WAL) under the output folder, and every query on it.

It holds the sources and their HTTP validators, poll history and errors, the URLs and feed entries
already seen, the fingerprints of bodies already seen, the items that were queued together
with who else reported them, and the decision taken on each page (`decisions`, for
`crawler explain`). This module owns the schema and its migrations; SQL appears nowhere
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
    from crawler.fingerprint import Facts
    from crawler.neardup import NearDuplicateIndex
    from crawler.schedule import PollOutcome

WAL_SIZE_LIMIT = 16 * 1024**2  # bytes the write-ahead log keeps after a checkpoint

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
    CREATE TABLE listed (
        source_id INTEGER NOT NULL,
        part TEXT NOT NULL,
        digest BLOB NOT NULL,
        PRIMARY KEY (source_id, part, digest)
    ) WITHOUT ROWID;
    CREATE INDEX listed_digest ON listed (digest);
    CREATE INDEX seen_urls_seen ON seen_urls (seen_at);
    CREATE INDEX seen_entries_seen ON seen_entries (seen_at);
    CREATE INDEX fingerprints_seen ON fingerprints (seen_at);
    """,
    """
    CREATE TABLE decisions (
        url TEXT PRIMARY KEY,
        decided_at REAL NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        final_url TEXT,
        canonical_url TEXT,
        trail TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX decisions_at ON decisions (decided_at);
    CREATE INDEX decisions_final ON decisions (final_url);
    CREATE INDEX decisions_canonical ON decisions (canonical_url);
    """,
    # Full-text search over the archive (`crawler serve`), kept in step by archive_article and
    # purge_archive; archive_search_rows maps an archived URL to its row in the index. Items
    # remember their topics (item_topics), filled for older items from their alert rows.
    """
    CREATE VIRTUAL TABLE archive_search USING fts5(
        title, text, source, url UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE archive_search_rows (
        url TEXT PRIMARY KEY,
        doc INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO archive_search (title, text, source, url)
        SELECT coalesce(json_extract(doc, '$.title'), ''),
               coalesce(json_extract(doc, '$.text'), ''),
               coalesce(json_extract(doc, '$.source.name'), ''), url
        FROM (SELECT url, inflate(record) AS doc FROM archive ORDER BY fetched_at);
    INSERT INTO archive_search_rows (url, doc) SELECT url, rowid FROM archive_search;
    CREATE TABLE item_topics (
        topic TEXT NOT NULL,
        item_id TEXT NOT NULL,
        PRIMARY KEY (topic, item_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO item_topics (topic, item_id) SELECT DISTINCT topic, item_id FROM outbox;
    CREATE INDEX items_queued ON items (queued_at, source_url);
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
    topics: tuple[str, ...] = ()  # the names of the topics it matched

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
            topics=tuple(topic["name"] for topic in item.get("topics") or ()),
        )


def _inflate(data: bytes) -> str:
    """An archive record as JSON text (SQL: ``inflate(record)``, for migrations)."""
    return zlib.decompress(data).decode("utf-8")


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

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (creating and migrating) the database; `readonly` opens an existing, current
        one with SQLite's mode=ro, for readers that must never block the daemon's writer."""
        self.path = Path(path)
        if readonly:
            self._open_readonly()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.create_function("inflate", 1, _inflate, deterministic=True)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a crash of crawler (not of the machine) without an fsync;
            # decisions that deliver an item are written with FULL (record_article).
            self._db.execute("PRAGMA synchronous=NORMAL")
            # The log is reused after each checkpoint but keeps its largest size unless told:
            # one big sweep would leave it at tens of MB for good.
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{self.path}: cannot use the state database: {exc}; "
                "`crawler repair` rebuilds it from the queue folder"
            ) from None

    def _open_readonly(self) -> None:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5)
            self._db.execute("PRAGMA query_only=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot read the state database: {exc}") from None
        if version == 0:
            self._db.close()
            raise StateError(f"{self.path}: not created yet (is crawler starting?)")
        if version != len(MIGRATIONS):
            self._db.close()
            raise StateError(
                f"{self.path}: schema {version}, this crawler reads {len(MIGRATIONS)}; "
                "open it once with this crawler (e.g. `crawler status`) to upgrade it"
            )

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
        if version == len(MIGRATIONS):
            return
        # One transaction for every step, so a reader sees the old schema or the new, never a
        # database half made (a fresh one reads as version 0 until it is complete).
        with self.transaction():
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

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

    def record_poll(self, source_id: int, outcome: PollOutcome) -> None:
        """A poll of a source ended: keep its validators and schedule, reset or count errors."""
        o = outcome
        if o.error is None:
            self._db.execute(
                "UPDATE sources SET last_polled_at = ?, first_polled_at = coalesce("
                "first_polled_at, ?), last_status = ?, error_count = 0, last_error = NULL, "
                "etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), "
                "name = coalesce(name, ?), last_new_at = CASE WHEN ? > 0 THEN ? "
                "ELSE last_new_at END, entry_gap = coalesce(?, entry_gap), "
                "ttl = coalesce(?, ttl), next_poll_at = ? WHERE id = ?",
                (
                    o.polled_at,
                    o.polled_at,
                    o.status,
                    o.etag,
                    o.last_modified,
                    o.name,
                    o.new_entries,
                    o.polled_at,
                    o.entry_gap,
                    o.ttl,
                    o.next_poll_at,
                    source_id,
                ),
            )
        else:
            self._db.execute(
                "UPDATE sources SET last_polled_at = ?, last_status = ?, "
                "error_count = error_count + 1, last_error = ?, next_poll_at = ? WHERE id = ?",
                (o.polled_at, o.status, o.error, o.next_poll_at, source_id),
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

    def entry_keys(self, source_id: int) -> list[str]:
        """The keys of every entry of a source seen so far."""
        rows = self._db.execute(
            "SELECT entry_key FROM seen_entries WHERE source_id = ?", (source_id,)
        )
        return [row[0] for row in rows]

    def seen_entry_keys(self, source_id: int, keys: list[str]) -> set[str]:
        """Which of `keys` (a batch of a feed's entries, up to a few hundred) were seen."""
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(
            f"SELECT entry_key FROM seen_entries WHERE source_id = ? AND entry_key IN ({marks})",
            (source_id, *keys),
        )
        return {row[0] for row in rows}

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

    # -- retention -----------------------------------------------------------------------------

    def record_listing(self, source_id: int, part: str, digests: Iterable[bytes]) -> None:
        """What one part of a source lists now (`part`: "" for a feed, the sitemap of an index
        or the section page it was read from), replacing what that part listed before: the
        `entry_digest` of each entry key and normalised URL. A seen URL or entry that a source
        still lists is never forgotten (`forget_seen`), so a feed that keeps an old entry never
        delivers it again."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM listed WHERE source_id = ? AND part = ?", (source_id, part)
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO listed (source_id, part, digest) VALUES (?, ?, ?)",
                [(source_id, part, digest) for digest in set(digests)],
            )

    def forget_seen(self, before: float) -> dict[str, int]:
        """Forget what was decided before `before` (`dedup.keep` ago) and is no longer listed by
        any source's last poll: seen URLs and feed entries; with them the fingerprints, items
        and "also reported" rows of that age, and alert rows sent or failed by then. Returns
        how many rows of each went."""
        from crawler.sources.feeds import entry_digest

        self._db.create_function("entry_digest", 1, entry_digest, deterministic=True)
        gone: dict[str, int] = {}
        with self.transaction():
            one = self._db.execute
            gone["seen_urls"] = one(
                "DELETE FROM seen_urls WHERE seen_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM listed WHERE listed.digest = entry_digest(seen_urls.url))",
                (before,),
            ).rowcount
            gone["seen_entries"] = one(
                "DELETE FROM seen_entries WHERE seen_at < ? AND NOT EXISTS (SELECT 1 FROM listed "
                "WHERE listed.source_id = seen_entries.source_id "
                "AND listed.digest = entry_digest(seen_entries.entry_key))",
                (before,),
            ).rowcount
            gone["fingerprints"] = one(
                "DELETE FROM fingerprints WHERE seen_at < ?", (before,)
            ).rowcount
            old_items = "SELECT id FROM items WHERE queued_at < ?"
            gone["also_reported"] = one(
                f"DELETE FROM also_reported WHERE item_id IN ({old_items})", (before,)
            ).rowcount
            gone["outbox"] = one(
                "DELETE FROM outbox WHERE status != 'pending' AND created_at < ? "
                f"AND item_id IN ({old_items})",
                (before, before),
            ).rowcount
            gone["items"] = one(
                "DELETE FROM items WHERE queued_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.item_id = items.id)",
                (before,),
            ).rowcount
            gone["decisions"] = self.purge_decisions(before)
        return gone

    def size(self) -> int:
        """Bytes the database takes on disk, its write-ahead log included."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

    def free_bytes(self) -> int:
        """Bytes of the database file that forgotten rows left free: reused before it grows."""
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int(free) * int(self._db.execute("PRAGMA page_size").fetchone()[0])

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

    def decided_not_queued(self, content_hash: str) -> bool:
        """Whether the body with this hash was decided and not queued (off-topic, too short)."""
        owner = self.fingerprint_owner(content_hash)
        return owner is not None and owner[0] is None

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
                    "INSERT OR IGNORE INTO item_topics (topic, item_id) VALUES (?, ?)",
                    [(topic, item.id) for topic in item.topics],
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

    def signature_facts(self, content_hash: str) -> Facts | None:
        """The facts stored with a body's signature; None when there is no signature or it was
        stored before facts were kept (or cannot be read)."""
        from crawler.neardup import Signature

        row = self._db.execute(
            "SELECT signature FROM signatures WHERE hash = ?", (content_hash,)
        ).fetchone()
        if row is None:
            return None
        try:
            return Signature.from_bytes(row[0]).facts
        except ValueError:
            return None

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

    # -- the decision trail (crawler/trail.py) --------------------------------------------------
    # Reads are plain SELECTs, so they work on a read-only connection too (the web app's).

    def record_decision(
        self,
        url: str,
        outcome: str,
        trail: dict[str, Any],
        *,
        detail: str | None = None,
        final_url: str | None = None,
        canonical_url: str | None = None,
        now: float | None = None,
    ) -> None:
        """Keep the decision on the page requested as `url` (normalised), replacing any earlier
        one: one row per URL. `trail` is JSON-ready data (see crawler/trail.py)."""
        now = time.time() if now is None else now
        self._db.execute(
            "INSERT OR REPLACE INTO decisions (url, decided_at, outcome, detail, final_url, "
            "canonical_url, trail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                url,
                now,
                outcome,
                detail,
                final_url,
                canonical_url,
                json.dumps(trail, ensure_ascii=False),
            ),
        )

    def decision(self, url: str) -> dict[str, Any] | None:
        """The trail of the page requested as `url`, else of the latest page that ended at it
        or named it canonical; None when no page was decided under that URL. The trail gets
        `decided_at`, `outcome` and `detail` from its row."""
        for column in ("url", "final_url", "canonical_url"):
            row = self._db.execute(
                f"SELECT decided_at, outcome, detail, trail FROM decisions WHERE {column} = ? "
                "ORDER BY outcome = 'queued' DESC, decided_at DESC LIMIT 1",
                (url,),
            ).fetchone()
            if row is not None:
                decided_at, outcome, detail, trail = row
                return {
                    **json.loads(trail),
                    "decided_at": decided_at,
                    "outcome": outcome,
                    "detail": detail,
                }
        return None

    def decision_counts(self, since: float) -> dict[str, int]:
        """How many pages were decided since `since`, by outcome ("queued" included)."""
        rows = self._db.execute(
            "SELECT outcome, count(*) FROM decisions WHERE decided_at >= ? GROUP BY outcome "
            "ORDER BY count(*) DESC, outcome",
            (since,),
        )
        return dict(rows)

    def purge_decisions(self, before: float) -> int:
        """Forget the decisions taken before `before` whose URL is no longer remembered as seen
        (`forget_seen`: the trail is kept as long as the URL); returns how many."""
        return self._db.execute(
            "DELETE FROM decisions WHERE decided_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM seen_urls WHERE seen_urls.url = decisions.url)",
            (before,),
        ).rowcount

    # -- the archive of recent articles -----------------------------------------------------------

    def archive_article(self, record: dict[str, Any], now: float | None = None) -> None:
        """Keep an extracted article (its item record, compressed) for topic tests and backfill."""
        now = time.time() if now is None else now
        data = zlib.compress(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        with self.transaction():
            self._archive(record, data, now)

    def _archive(self, record: dict[str, Any], data: bytes, now: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO archive (url, fetched_at, item_id, record) VALUES (?, ?, ?, ?)",
            (record["url"], now, record.get("id"), data),
        )
        self._unindex([record["url"]])
        source = (record.get("source") or {}).get("name") or ""
        doc = self._db.execute(
            "INSERT INTO archive_search (title, text, source, url) VALUES (?, ?, ?, ?)",
            (record.get("title") or "", record.get("text") or "", source, record["url"]),
        ).lastrowid
        self._db.execute(
            "INSERT INTO archive_search_rows (url, doc) VALUES (?, ?)", (record["url"], doc)
        )

    def _unindex(self, urls: list[str]) -> None:
        """Take archived URLs out of the full-text index."""
        for url in urls:
            row = self._db.execute(
                "SELECT doc FROM archive_search_rows WHERE url = ?", (url,)
            ).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM archive_search WHERE rowid = ?", (row[0],))
                self._db.execute("DELETE FROM archive_search_rows WHERE url = ?", (url,))

    def archived(self, since: float) -> Iterator[tuple[str | None, dict[str, Any]]]:
        """(item id or None, record) of every article archived since `since`, oldest first."""
        rows = self._db.execute(
            "SELECT item_id, record FROM archive WHERE fetched_at >= ? ORDER BY fetched_at",
            (since,),
        ).fetchall()
        for item_id, data in rows:
            yield item_id, json.loads(zlib.decompress(data))

    def purge_archive(self, before: float) -> int:
        with self.transaction():
            self._db.execute(
                "DELETE FROM archive_search WHERE rowid IN (SELECT r.doc FROM "
                "archive_search_rows r JOIN archive a ON a.url = r.url WHERE a.fetched_at < ?)",
                (before,),
            )
            self._db.execute(
                "DELETE FROM archive_search_rows WHERE url IN "
                "(SELECT url FROM archive WHERE fetched_at < ?)",
                (before,),
            )
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
            "seen_entries": one("SELECT count(*) FROM seen_entries").fetchone()[0],
            "listed": one("SELECT count(*) FROM listed").fetchone()[0],
            "signatures": one("SELECT count(*) FROM signatures").fetchone()[0],
            "database_bytes": self.size(),
            "free_bytes": self.free_bytes(),
            "items": one("SELECT count(*) FROM items").fetchone()[0],
            "also_reported": one("SELECT count(*) FROM also_reported").fetchone()[0],
        }

    # -- what `crawler serve` shows (read-only) -----------------------------------------------

    def recent_items(
        self,
        *,
        limit: int = 50,
        topic: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        """Queued items, newest first, each with its topics and whether its text is archived;
        optionally of one topic, one source (its URL) and queued in [since, until)."""
        where: list[str] = ["1"]
        params: list[Any] = []
        if topic:
            # EXISTS, not IN: walks items newest first and stops at `limit`
            where.append(
                "EXISTS (SELECT 1 FROM item_topics t WHERE t.topic = ? AND t.item_id = i.id)"
            )
            params.append(topic)
        if source:
            where.append("i.source_url = ?")
            params.append(source)
        if since is not None:
            where.append("i.queued_at >= ?")
            params.append(since)
        if until is not None:
            where.append("i.queued_at < ?")
            params.append(until)
        rows = self._db.execute(
            "SELECT i.id, i.url, i.title, i.source_name, i.source_url, i.published, i.queued_at "
            f"FROM items i WHERE {' AND '.join(where)} ORDER BY i.queued_at DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return self._with_topics(rows)

    def _with_topics(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        keys = ("id", "url", "title", "source_name", "source_url", "published", "queued_at")
        items = [dict(zip(keys, row, strict=True)) for row in rows]
        ids = [item["id"] for item in items]
        topics: dict[str, list[str]] = {}
        if ids:
            marks = ",".join("?" * len(ids))
            for topic, item_id in self._db.execute(
                f"SELECT topic, item_id FROM item_topics WHERE item_id IN ({marks}) ORDER BY topic",
                ids,
            ):
                topics.setdefault(item_id, []).append(topic)
        for item in items:
            item["topics"] = topics.get(item["id"], [])
        return items

    def item(self, item_id: str) -> dict[str, Any] | None:
        """One queued item as `recent_items` gives it, or None."""
        rows = self._db.execute(
            "SELECT id, url, title, source_name, source_url, published, queued_at FROM items "
            "WHERE id = ?",
            (item_id,),
        ).fetchall()
        found = self._with_topics(rows)
        return found[0] if found else None

    def archived_record(self, url: str) -> dict[str, Any] | None:
        """The archived article at `url` (the item's record, with its text), if still kept."""
        row = self._db.execute("SELECT record FROM archive WHERE url = ?", (url,)).fetchone()
        return None if row is None else json.loads(zlib.decompress(row[0]))

    def archived_newest(self, since: float, limit: int) -> list[tuple[str | None, dict[str, Any]]]:
        """(item id or None, record) of the newest `limit` articles archived since `since`."""
        rows = self._db.execute(
            "SELECT item_id, record FROM archive WHERE fetched_at >= ? "
            "ORDER BY fetched_at DESC LIMIT ?",
            (since, limit),
        ).fetchall()
        return [(item_id, json.loads(zlib.decompress(data))) for item_id, data in rows]

    def archived_matching(
        self, match: str, since: float, limit: int
    ) -> list[tuple[str | None, dict[str, Any]]]:
        """(item id or None, record) of the newest `limit` articles archived since `since`
        that the FTS5 expression `match` finds."""
        rows = self._db.execute(
            "SELECT a.item_id, a.record FROM archive_search s JOIN archive a ON a.url = s.url "
            "WHERE archive_search MATCH ? AND a.fetched_at >= ? ORDER BY s.rowid DESC LIMIT ?",
            (match, since, limit),
        ).fetchall()
        return [(item_id, json.loads(zlib.decompress(data))) for item_id, data in rows]

    def archive_size(self, since: float = 0.0) -> int:
        row = self._db.execute("SELECT count(*) FROM archive WHERE fetched_at >= ?", (since,))
        return int(row.fetchone()[0])

    def search_archive(
        self, match: str, *, limit: int = 50, since: float | None = None
    ) -> list[dict[str, Any]]:
        """Archived articles for an FTS5 `match` expression, newest first, with a snippet
        whose hits are wrapped in U+E000 / U+E001 (for the caller to mark up after escaping).
        Raises sqlite3.OperationalError for an expression FTS5 refuses."""
        rows = self._db.execute(
            "SELECT s.url, s.title, s.source, a.fetched_at, a.item_id, "
            "snippet(archive_search, 1, char(57344), char(57345), '…', 24) "
            "FROM archive_search s JOIN archive a ON a.url = s.url "
            "WHERE archive_search MATCH ? AND a.fetched_at >= ? ORDER BY s.rowid DESC LIMIT ?",
            (match, since or 0.0, limit),
        ).fetchall()
        keys = ("url", "title", "source", "fetched_at", "item_id", "snippet")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def items_per_hour(self, since: float) -> dict[int, int]:
        """Items queued since `since`, counted per hour (key: hours since the epoch)."""
        rows = self._db.execute(
            "SELECT CAST(queued_at / 3600 AS INTEGER), count(*) FROM items WHERE queued_at >= ? "
            "GROUP BY 1",
            (since,),
        )
        return dict(rows.fetchall())

    def items_by_source(self, since: float) -> dict[str, int]:
        """Items queued since `since`, counted per source URL."""
        rows = self._db.execute(
            "SELECT source_url, count(*) FROM items WHERE queued_at >= ? GROUP BY 1", (since,)
        )
        return {url: n for url, n in rows.fetchall() if url}

    def topic_days(self, since: float) -> dict[str, dict[int, int]]:
        """Items queued since `since` per topic and per day (key: days since the epoch)."""
        rows = self._db.execute(
            "SELECT t.topic, CAST(i.queued_at / 86400 AS INTEGER), count(*) FROM item_topics t "
            "JOIN items i ON i.id = t.item_id WHERE i.queued_at >= ? GROUP BY 1, 2",
            (since,),
        )
        days: dict[str, dict[int, int]] = {}
        for topic, day, n in rows.fetchall():
            days.setdefault(topic, {})[day] = n
        return days
