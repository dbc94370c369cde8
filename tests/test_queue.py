"""The queue folder: Maildir delivery, listing and taking."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from crawler.errors import QueueError
from crawler.queue import Queue, file_name


def _item(item_id: str, fetched_at: str = "2026-11-25T10:00:00.000001+00:00") -> dict:
    return {"schema": 1, "id": item_id, "fetched_at": fetched_at, "title": "t", "text": "x"}


def test_put_writes_complete_json_into_new(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "queue")
    path = queue.put(_item("01JABCDEFGHJKMNPQRSTVWXYZ0"))
    assert path.parent == queue.new
    assert path.name == "20261125T100000000001Z.01JABCDEFGHJKMNPQRSTVWXYZ0.json"
    assert json.loads(path.read_text("utf-8"))["id"] == "01JABCDEFGHJKMNPQRSTVWXYZ0"
    assert list(queue.tmp.iterdir()) == []


def test_put_never_overwrites(tmp_path: Path) -> None:
    queue = Queue(tmp_path)
    queue.put(_item("01JABCDEFGHJKMNPQRSTVWXYZ0"))
    with pytest.raises(QueueError):
        queue.put(_item("01JABCDEFGHJKMNPQRSTVWXYZ0"))
    assert list(queue.tmp.iterdir()) == []


def test_file_names_come_from_the_id_only() -> None:
    with pytest.raises(QueueError):
        file_name("../../etc/passwd", "2026-11-25T10:00:00+00:00")


def test_no_partial_file_is_ever_visible_in_new(tmp_path: Path) -> None:
    """A reader polling new/ while items are written only ever sees whole, valid JSON."""
    queue = Queue(tmp_path)
    big_text = "word " * 200_000
    done = threading.Event()
    seen_bad: list[str] = []

    def reader() -> None:
        while not done.is_set():
            for entry in os.scandir(queue.new):
                data = Path(entry.path).read_bytes()
                try:
                    json.loads(data)
                except ValueError:
                    seen_bad.append(entry.name)

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(20):
        item = _item(f"01JABCDEFGHJKMNPQRSTVWX{n:03d}")
        item["text"] = big_text
        queue.put(item)
    done.set()
    thread.join()
    assert seen_bad == []
    assert len(queue.files("new")) == 20


def test_take_moves_the_oldest_to_cur(tmp_path: Path) -> None:
    queue = Queue(tmp_path)
    queue.put(_item("01JBBBBBBBBBBBBBBBBBBBBBBB", "2026-11-25T10:00:02+00:00"))
    queue.put(_item("01JAAAAAAAAAAAAAAAAAAAAAAA", "2026-11-25T10:00:01+00:00"))
    taken = queue.take()
    assert taken is not None and taken.id == "01JAAAAAAAAAAAAAAAAAAAAAAA"
    assert taken.path.parent == queue.cur and taken.read()["id"] == taken.id
    assert [q.id for q in queue.files("new")] == ["01JBBBBBBBBBBBBBBBBBBBBBBB"]
    assert queue.find("01JAAAAAAAAAAAAAAAAAAAAAAA").box == "cur"  # type: ignore[union-attr]
    assert queue.take() is not None
    assert queue.take() is None
