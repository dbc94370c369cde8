"""The state database: schema, what was seen, atomic decisions."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from crawler.errors import StateError
from crawler.schedule import PollOutcome
from crawler.state import MIGRATIONS, WAL_SIZE_LIMIT, ItemRecord, State


def test_schema_is_created_and_versioned(tmp_path: Path) -> None:
    with State(tmp_path / "state.db") as state:
        state.mark_urls(["https://example.org/a"], "queued")
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_seen_urls_and_entries_survive_reopening(tmp_path: Path) -> None:
    with State(tmp_path / "state.db") as state:
        source = state.source("feed", "https://example.org/rss")
        state.mark_entries(source.id, ["guid-1"])
        state.mark_urls(["https://example.org/a"], "off-topic")
    with State(tmp_path / "state.db") as state:
        source = state.source("feed", "https://example.org/rss")
        assert state.entry_seen(source.id, "guid-1")
        assert not state.entry_seen(source.id, "guid-2")
        assert state.url_seen("https://example.org/a")
        assert not state.url_seen("https://example.org/b")


def test_record_article_is_atomic(tmp_path: Path) -> None:
    item = ItemRecord("01J0", "https://e.org/a", None, "T", "E", "https://e.org/rss", None, "h1")
    with State(tmp_path / "state.db") as state:
        state.record_article(
            urls=["https://e.org/a"], outcome="queued", content_hash="h1", item=item
        )
        with pytest.raises(sqlite3.IntegrityError):  # the same item id again: nothing is kept
            state.record_article(
                urls=["https://e.org/b"], outcome="queued", content_hash="h2", item=item
            )
        assert not state.url_seen("https://e.org/b")
        assert state.fingerprint_owner("h2") is None
        assert state.fingerprint_owner("h1") == ("01J0", "https://e.org/a")


def test_poll_errors_are_counted_and_reset(tmp_path: Path) -> None:
    with State(tmp_path / "state.db") as state:
        source = state.source("feed", "https://example.org/rss")
        state.record_poll(source.id, _outcome(status=500, error="HTTP 500"))
        state.record_poll(source.id, _outcome(status=None, error="timeout"))
        row = state.source("feed", "https://example.org/rss")
        assert (row.error_count, row.last_error) == (2, "timeout")
        state.record_poll(source.id, _outcome(status=200, etag='"v1"', new_entries=3))
        row = state.source("feed", "https://example.org/rss")
        assert (row.error_count, row.last_error, row.etag) == (0, None, '"v1"')
        assert row.first_polled_at is not None and row.last_new_at is not None


def _outcome(**fields: Any) -> PollOutcome:
    now = time.time()
    return PollOutcome(polled_at=now, next_poll_at=now + 60, **fields)


def test_a_file_that_is_not_a_database_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"state\.db"):
        State(path)


def test_one_large_write_does_not_leave_a_large_log(tmp_path) -> None:
    """The write-ahead log shrinks back after a checkpoint: a big sweep or burst does not keep
    tens of MB on disk for good."""
    wal = tmp_path / "state.db-wal"
    with State(tmp_path / "state.db") as state:
        with state.transaction():
            for n in range(40):
                state.set_meta(f"big-{n}", os.urandom(512 * 1024).hex())  # 40 MiB in all
        assert wal.stat().st_size > 30 * 1024**2
        for n in range(40):
            state.set_meta(f"big-{n}", None)  # small commits: the log starts over, truncated
        assert wal.stat().st_size <= WAL_SIZE_LIMIT
        assert state.free_bytes() > 30 * 1024**2  # the pages freed wait for reuse
