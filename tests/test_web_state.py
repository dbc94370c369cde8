"""The archive's full-text index: built for existing rows by its migration, kept in step with
the archive, and the topic tester's use of it catches what a scan of every article catches."""

from __future__ import annotations

import json
import sqlite3
import time
import zlib

import pytest

from crawler.errors import StateError
from crawler.state import MIGRATIONS, State
from crawler.web import views

RECORDS = [
    ("https://a.example/1", "Tehran ships drones", "Officials in Tehran said drones were shipped."),
    ("https://a.example/2", "Football in Tehran", "The football club of Tehran won; no drones."),
    ("https://a.example/3", "Caspian cargo", "Artillery shells crossed the Caspian Sea."),
    ("https://a.example/4", "Sanctions", "Sanctioned firms moved the shells to Russia's ports."),
    ("https://a.example/5", "Téhéran", "À Téhéran, les drones et les obus."),
    ("https://a.example/6", "Iran-Russia", "The Iran-Russia deal on drone parts and ammunition."),
]


def _record(url: str, title: str, text: str) -> dict:
    return {"url": url, "title": title, "text": text, "source": {"name": "Outlet"}}


def test_the_migration_indexes_articles_archived_before_it(tmp_path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    search = next(i for i, script in enumerate(MIGRATIONS) if "archive_search" in script)
    for script in MIGRATIONS[:search]:  # the database as it was before full-text search
        db.executescript(script)
    db.execute(f"PRAGMA user_version={search}")
    for url, title, text in RECORDS:
        data = zlib.compress(json.dumps(_record(url, title, text)).encode())
        db.execute("INSERT INTO archive VALUES (?, ?, NULL, ?)", (url, time.time(), data))
    db.commit()
    db.close()
    with State(path) as state:
        assert {r["url"] for r in state.search_archive('"caspian"')} == {"https://a.example/3"}
        assert len(state.search_archive('"tehran"')) == 2
        found = [r["url"] for r in state.search_archive('"teheran"')]  # accents are folded
        assert found == ["https://a.example/5"]
    with State(path, readonly=True) as reader:
        assert reader.archive_size() == len(RECORDS)


def test_the_index_follows_the_archive(tmp_path) -> None:
    with State(tmp_path / "state.db") as state:
        state.archive_article(_record("https://a.example/x", "Old", "zanzibar harbour"), now=100)
        state.archive_article(_record("https://a.example/y", "New", "zanzibar ferry"))
        state.archive_article(_record("https://a.example/y", "New", "zanzibar ferry again"))
        assert len(state.search_archive('"zanzibar"')) == 2  # archived again: one row
        assert state.purge_archive(1000) == 1
        assert [r["url"] for r in state.search_archive('"zanzibar"')] == ["https://a.example/y"]
        assert state.search_archive('"harbour"') == []


def test_a_read_only_state_refuses_writes(tmp_path) -> None:
    with State(tmp_path / "state.db"):
        pass
    with State(tmp_path / "state.db", readonly=True) as reader, pytest.raises(sqlite3.Error):
        reader.set_meta("x", "y")


def test_a_reader_of_a_database_still_being_created_is_told_so(tmp_path) -> None:
    path = tmp_path / "state.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")  # what State does while it creates the schema
    for statement in MIGRATIONS[0].split(";"):
        writer.execute(statement)
    with pytest.raises(StateError, match="not created yet"):
        State(path, readonly=True)
    writer.execute("ROLLBACK")
    writer.close()
    with State(path):
        pass  # created in one transaction: readers now see all of it
    with State(path, readonly=True) as reader:
        assert reader.archive_size() == 0


@pytest.mark.parametrize(
    "query",
    [
        "tehran AND drones",
        "tehran -football",
        "(iran OR tehran) AND drone*",
        '"artillery shells"',
        '"shells russia"~3',
        "sanction*",
        "title:tehran",
        "text:drones AND lang:en",
        "teheran",
        "iran russia",
        "url:example AND drones",
    ],
)
def test_the_tester_through_the_index_catches_what_a_full_scan_catches(tmp_path, query) -> None:
    with State(tmp_path / "state.db") as state:
        for url, title, text in RECORDS:
            state.archive_article(_record(url, title, text))
    with State(tmp_path / "state.db", readonly=True) as reader:
        fast = views.try_query(reader, query, 0)
        full = views.try_query(reader, query, 0, every=True)
    assert fast["error"] is None
    assert [c["url"] for c in fast["caught"]] == [c["url"] for c in full["caught"]]
    assert fast["terms"] == full["terms"]
