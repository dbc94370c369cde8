"""Run the `crawler` command on a disk that is full while a flag file exists.

    python tests/diskfull.py FLAG crawler-args...

While FLAG exists, the disk is full: when FLAG's text says "files", every file fsync fails with
ENOSPC (the queue folder, the mail folder); when it says "database", SQLite cannot grow the state
database (every writing statement fails with SQLITE_FULL's message). Removing FLAG frees the
space. Only the main process is affected (worker processes write nothing).
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import sys
from typing import Any

from faults import connect_with  # run as a script: its own folder is on sys.path

FLAG = sys.argv[1]
MAIN = os.getpid()


def _full(what: str) -> bool:
    if os.getpid() != MAIN:
        return False
    try:
        with open(FLAG) as flag:
            return what in flag.read()
    except FileNotFoundError:
        return False


_fsync = os.fsync


def _failing_fsync(fd: int) -> None:
    if _full("files"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _fsync(fd)


os.fsync = _failing_fsync


class _FullConnection(sqlite3.Connection):
    """While the disk is full, every statement that writes fails as SQLite fails it when it
    cannot grow the database or its journal (SQLITE_FULL)."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self._check(sql)
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self._check(sql)
        return super().executemany(sql, *args)

    def _check(self, sql: str) -> None:
        if _WRITES.match(sql) and _full("database"):
            raise sqlite3.OperationalError("database or disk is full")


_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
connect_with(_FullConnection)

if __name__ == "__main__":
    from crawler.cli import main

    sys.exit(main(sys.argv[2:]))
