"""The queue folder: one JSON file per item, with Maildir semantics.

An item is written to `tmp/`, flushed and fsynced, then linked into `new/` under its final name
(never overwriting) and the directory is fsynced, so a consumer never sees a partial file.
Consumers take items from `new/` and move them to `cur/` (or delete them)::

    queue = Queue("output/queue")
    queue.put(item)                  # item["id"] and item["fetched_at"] name the file
    taken = queue.take()             # oldest item in new/, now in cur/
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crawler.errors import QueueError

_ID = re.compile(r"^[0-9A-Za-z]{10,40}$")


@dataclass(frozen=True, slots=True)
class QueuedFile:
    path: Path
    id: str
    box: str  # "new" or "cur"

    def read(self) -> dict[str, Any]:
        with open(self.path, encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
        return data


def file_name(item_id: str, fetched_at: str) -> str:
    """`<fetched_at as sortable time>.<id>.json`; only the id and the time reach the name."""
    if not _ID.match(item_id):
        raise QueueError(f"refusing item id {item_id!r}: not a plain identifier")
    stamp = datetime.fromisoformat(fetched_at).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}.{item_id}.json"


def fsync_dir(path: Path) -> None:
    """Make a rename or link in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Queue:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp, self.new, self.cur = (self.root / box for box in ("tmp", "new", "cur"))
        for box in (self.tmp, self.new, self.cur):
            box.mkdir(parents=True, exist_ok=True)

    def put(self, item: dict[str, Any]) -> Path:
        """Deliver one item into new/ atomically; the returned path is complete when it appears."""
        name = file_name(item["id"], item["fetched_at"])
        data = json.dumps(item, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        tmp_path, new_path = self.tmp / name, self.new / name
        try:
            with open(tmp_path, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp_path, new_path)  # fails rather than overwrite an existing item
            fsync_dir(self.new)
        except OSError as exc:
            raise QueueError(f"cannot write {new_path}: {exc.strerror or exc}") from exc
        finally:
            tmp_path.unlink(missing_ok=True)
        return new_path

    def withdraw(self, path: Path) -> bool:
        """Take back an item just put (its recording failed), unless a consumer already took it;
        True if it was withdrawn."""
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True

    def files(self, box: str = "new") -> list[QueuedFile]:
        """The items in one box, oldest first."""
        folder = {"new": self.new, "cur": self.cur}[box]
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".json"))
        return [QueuedFile(folder / name, name.split(".")[1], box) for name in names]

    def find(self, item_id: str) -> QueuedFile | None:
        for box in ("new", "cur"):
            for queued in self.files(box):
                if queued.id == item_id:
                    return queued
        return None

    def take(self) -> QueuedFile | None:
        """Move the oldest item from new/ to cur/ and return it; None when new/ is empty.

        Safe with several consumers: whoever renames a file first owns it."""
        for queued in self.files("new"):
            target = self.cur / queued.path.name
            try:
                os.rename(queued.path, target)
            except FileNotFoundError:
                continue  # another consumer took it
            return QueuedFile(target, queued.id, "cur")
        return None

    def depth(self) -> int:
        return sum(1 for _ in self._names(self.new))

    @staticmethod
    def _names(folder: Path) -> Iterator[str]:
        return (entry.name for entry in os.scandir(folder) if entry.name.endswith(".json"))
