"""The output folder as one writer sees it: locked, checked, and reconciled on start.

`crawler once` and `crawler run` hold an exclusive lock on `<output>/crawler.lock` while they
write, so a second instance on the same folder is refused with a clear message. On start the
queue and the state database are brought into agreement: an item delivered into `new/` or
`cur/` whose record did not reach the database (a crash between the two) is recorded, so it is
never delivered again; files left in `tmp/` by a crash are removed (they were never delivered).

    with claim_output(config):
        ...  # write items
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crawler.config import Settings
from crawler.dedup import page_urls
from crawler.errors import CrawlerError
from crawler.queue import Queue
from crawler.state import ItemRecord, State

log = logging.getLogger("crawler.output")

LOCK_NAME = "crawler.lock"
STALE_TMP = 3600.0  # seconds after which a tmp/ file of a shared queue is a crash's leftover


class OutputBusy(CrawlerError):
    """Another crawler process is writing to the same output folder."""


@contextmanager
def claim_output(config: Settings) -> Iterator[None]:
    """Hold the output folder for the duration: lock, check, reconcile.

    In cluster mode the workers share the queue folder: each locks its own folder
    (`output.state_dir`), and only `tmp/` files older than `STALE_TMP` are removed (a younger
    one may be another worker's item on its way into new/)."""
    with _locked(config.output.own_dir):
        queue = Queue(config.output.queue_dir)
        _check_one_filesystem(queue)
        if config.cluster is not None:
            _purge_tmp(queue, older_than=STALE_TMP)
        else:
            with State(config.output.state_path) as state:
                reconcile(queue, state)
        yield


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_NAME, "a+")  # noqa: SIM115 (held until the block ends)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise OutputBusy(
                f"{folder}/ is in use by another crawler process (pid {owner}); "
                "stop it first, or give this one its own output.dir"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def repair(config: Settings, *, force: bool = False) -> str:
    """Rebuild a damaged state database from the queue folder; says what it did.

    The damaged file is kept beside the new one. What only the database knew is lost: the
    sources' validators and schedules, the URLs of pages that were not queued, near-duplicate
    signatures, the archive and alerts not yet sent."""
    path = config.output.state_path
    with _locked(config.output.dir):
        problem = _problem(path) if path.exists() else "there is no state database"
        if problem is None and not force:
            return f"{path}: the state database is sound; nothing to repair"
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            damaged = Path(f"{path}{suffix}")
            if damaged.exists():
                damaged.rename(Path(f"{aside}{suffix}"))
        queue = Queue(config.output.queue_dir)
        with State(path) as state:
            recorded = reconcile(queue, state)
    kept = f"; the old file is {aside}" if problem != "there is no state database" else ""
    return (
        f"{path}: {problem or 'rebuilt on request'}; rebuilt from {recorded} queued item(s){kept}"
    )


def _problem(path: Path) -> str | None:
    """What is wrong with the state database, or None if SQLite finds it sound."""
    try:
        db = sqlite3.connect(path)
        try:
            result = db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if result == "ok" else f"integrity check failed: {result}"


def _check_one_filesystem(queue: Queue) -> None:
    devices = {os.stat(box).st_dev for box in (queue.tmp, queue.new, queue.cur)}
    if len(devices) > 1:
        raise CrawlerError(
            f"{queue.root}: tmp/, new/ and cur/ must be on one filesystem, so that moving an "
            "item between them is atomic"
        )


def _purge_tmp(queue: Queue, older_than: float = 0.0) -> None:
    cutoff = time.time() - older_than
    for stale in queue.tmp.iterdir():
        try:
            if older_than and stale.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue  # delivered meanwhile
        log.warning("removing an unfinished queue file left by a crash: %s", stale.name)
        stale.unlink(missing_ok=True)


def reconcile(queue: Queue, state: State) -> int:
    """Record delivered items the database does not know; purge stale tmp/ files.
    Returns how many items were recorded."""
    _purge_tmp(queue)
    recorded = 0
    for box in ("new", "cur"):
        for queued in queue.files(box):
            if state.item_known(queued.id):
                continue
            try:
                item = queued.read()
            except (OSError, ValueError) as exc:
                log.error("unreadable queue file %s: %s", queued.path, exc)
                continue
            urls = (
                page_urls(item["url"], canonical=item.get("canonical_url"))
                if item.get("url")
                else []
            )
            state.record_article(
                urls=urls or [queued.id],
                outcome="queued",
                content_hash=item.get("content_hash"),
                item=ItemRecord.from_item(item),
            )
            recorded += 1
    if recorded:
        log.warning("recorded %d delivered item(s) missing from the state database", recorded)
    return recorded
