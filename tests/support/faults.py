"""What the fault-injecting launchers (crashpoint.py, diskfull.py) share: every SQLite
connection the crawler opens is made with their connection class."""

from __future__ import annotations

import sqlite3
from typing import Any


def connect_with(factory: type[sqlite3.Connection]) -> None:
    """Make `factory` the class of every connection sqlite3.connect opens from now on."""
    connect = sqlite3.connect

    def connect_through_factory(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", factory)
        return connect(*args, **kwargs)

    sqlite3.connect = connect_through_factory  # type: ignore[assignment]
