"""Run the `crawler` command and die at the K-th durable write, as a power cut would.

    python tests/crashpoint.py K crawler-args...     # exits 99 at write K
    python tests/crashpoint.py 0 crawler-args...     # counts the writes, prints the count

The write points are the operating system's and SQLite's, not crawler's: file fsyncs, links,
renames, replaces and unlinks, and SQLite COMMITs. Every process of the run counts on its own
(worker processes do no durable writes), so K counts in the main process only.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any

from faults import connect_with  # run as a script: its own folder is on sys.path

LIMIT = int(sys.argv[1])
COUNT = 0
MAIN = os.getpid()


def _point(what: str) -> None:
    global COUNT
    if os.getpid() != MAIN:
        return
    COUNT += 1
    if COUNT == LIMIT:
        sys.stderr.write(f"crashpoint: dying at write {COUNT} ({what})\n")
        sys.stderr.flush()
        os._exit(99)


def _wrap(name: str) -> None:
    original = getattr(os, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _point(name)
        return original(*args, **kwargs)

    setattr(os, name, wrapped)


for _name in ("fsync", "link", "rename", "replace", "unlink"):
    _wrap(_name)


class _CountingConnection(sqlite3.Connection):
    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.strip().upper() == "COMMIT":
            _point("commit")
        return super().execute(sql, *args)


connect_with(_CountingConnection)

if __name__ == "__main__":
    from crawler.cli import main

    code = main(sys.argv[2:])
    if LIMIT == 0:
        print(f"crashpoint: {COUNT} writes")
    sys.exit(code)
