"""The output folder: one writer at a time, and queue and database reconciled on start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.config import settings_from_dict
from crawler.delivery import deliver
from crawler.errors import QueueError
from crawler.output import OutputBusy, claim_output
from crawler.queue import Queue
from crawler.state import State

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, ago, article_page, rss
from support.runner import base_settings, run_crawler


def _config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return settings_from_dict({"output": {"dir": str(tmp_path / "out")}})


def _item(item_id: str, url: str) -> dict:
    return {
        "schema": 1,
        "id": item_id,
        "url": url,
        "canonical_url": None,
        "title": "T",
        "published": None,
        "fetched_at": "2026-11-25T10:00:00+00:00",
        "source": {"kind": "feed", "url": "https://e.example/rss", "name": "E"},
        "topics": [],
        "content_hash": "abc" + item_id,
    }


def test_a_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with (
        claim_output(config),
        pytest.raises(OutputBusy, match="in use by another crawler"),
        claim_output(config),
    ):
        pass
    with claim_output(config):  # released when the first one ends
        pass


def test_items_delivered_but_not_recorded_are_recorded_on_start(tmp_path: Path) -> None:
    """A crash after the file reached new/ and before the database commit loses nothing and
    repeats nothing: the item is recorded, its URL counts as seen."""
    config = _config(tmp_path)
    queue = Queue(config.output.queue_dir)
    queue.put(_item("01JAAAAAAAAAAAAAAAAAAAAAAA", "https://e.example/a?utm_source=x"))
    queue.put(_item("01JBBBBBBBBBBBBBBBBBBBBBBB", "https://e.example/b"))
    assert queue.take() is not None  # one consumed into cur/, one still in new/
    (queue.tmp / "20261125T100000000000Z.01JCCCCCCCCCCCCCCCCCCCCCCC.json").write_text("{partial")
    with claim_output(config):
        pass
    assert list(queue.tmp.iterdir()) == []
    with State(config.output.state_path) as state:
        assert state.item_known("01JAAAAAAAAAAAAAAAAAAAAAAA")
        assert state.item_known("01JBBBBBBBBBBBBBBBBBBBBBBB")
        assert state.url_seen("https://e.example/a")
        assert state.fingerprint_owner("abc01JBBBBBBBBBBBBBBBBBBBBBBB") is not None


def test_once_refuses_to_run_beside_a_daemon(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route(
        "/feed.xml",
        rss("F", [{"title": "a", "link": site.url("/a.html"), "guid": "a", "published": ago(1)}]),
        "application/rss+xml",
    )
    settings = tmp_path / "crawler.toml"
    settings.write_text(f"""
{base_settings(tmp_path, site)}[[feeds]]
url = "{site.url("/feed.xml")}"
""")
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    new = tmp_path / "out" / "queue" / "new"
    wait_for(lambda: list(new.glob("*.json")), what="the daemon's first item")
    second = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert second.returncode == 1
    assert "in use by another crawler process" in second.stderr
    assert "Traceback" not in second.stderr
    assert daemon.stop() == 0
    assert len(list(new.glob("*.json"))) == 1
    assert json.loads(next(new.glob("*.json")).read_text())["title"] == "Ships cross the Caspian"


def test_a_corrupt_database_fails_loudly_and_repair_rebuilds_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    queue = Queue(config.output.queue_dir)
    with claim_output(config):
        queue.put(_item("01JAAAAAAAAAAAAAAAAAAAAAAA", "https://e.example/a"))
    settings = tmp_path / "crawler.toml"
    settings.write_text(f'[output]\ndir = "{tmp_path / "out"}"\n')
    sound = run_crawler("--settings", str(settings), "repair", cwd=tmp_path)
    assert sound.returncode == 0 and "sound; nothing to repair" in sound.stdout

    state_db = config.output.state_path
    for suffix in ("-wal", "-shm"):
        Path(f"{state_db}{suffix}").unlink(missing_ok=True)
    state_db.write_bytes(b"SQLite format 3\0" + b"\xff" * 8000)  # a damaged file
    broken = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert broken.returncode == 1
    assert "cannot use the state database" in broken.stderr and "crawler repair" in broken.stderr
    assert "Traceback" not in broken.stderr

    repaired = run_crawler("--settings", str(settings), "repair", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert "rebuilt from 1 queued item(s)" in repaired.stdout
    assert list(state_db.parent.glob("state.db.damaged-*"))
    with State(state_db) as state:
        assert state.item_known("01JAAAAAAAAAAAAAAAAAAAAAAA")
        assert state.url_seen("https://e.example/a")


def test_an_item_whose_recording_fails_is_taken_back_from_new(tmp_path: Path) -> None:
    """The file reached new/ but the commit failed (the database could not be written): the
    file is withdrawn, so the item is delivered once when its page is fetched again."""
    config = _config(tmp_path)
    queue = Queue(config.output.queue_dir)
    item = _item("01JAAAAAAAAAAAAAAAAAAAAAAA", "https://e.example/a")
    with State(config.output.state_path) as state:
        connection = state._db  # a real SQLite refusal of writes, not a stand-in
        connection.execute("PRAGMA query_only = 1")  # SQLite refuses every write from now on
        with pytest.raises(QueueError, match="cannot record item"):
            deliver(queue, state, item, {}, urls=[item["url"]])
        assert queue.files("new") == [] and list(queue.tmp.iterdir()) == []
        assert not state.url_seen(item["url"])
        connection.execute("PRAGMA query_only = 0")
        deliver(queue, state, item, {}, urls=[item["url"]])
        assert [f.id for f in queue.files("new")] == [item["id"]]
        assert state.url_seen(item["url"])
