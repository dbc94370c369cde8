"""Every exception crawler raises on purpose.

CrawlerError
├── SettingsError      a settings file that cannot be used (names the file and the key)
├── QueryError         a topic query that cannot be parsed (names the position, gives a hint)
├── QueueError         the queue folder cannot be written or read
├── StateError         the state database cannot be opened or is not ours
├── FetchError         a command-line fetch failed or the address guard refused it
├── WorkerExited       a worker process died during its task (crawler/workers.py)
└── DeliveryError      an alert (email, chat, webhook) was not delivered
    ├── TemporaryFailure   try again later (4xx, refused connection, timeout)
    └── PermanentFailure   retrying will not help (5xx, bad credentials, no STARTTLS)
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class of crawler's own errors; the CLI prints them as one line, without a traceback."""


class SettingsError(CrawlerError):
    def __init__(self, path: str, key: str | None, message: str) -> None:
        self.path = path
        self.key = key
        self.message = message
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {message}")


class QueryError(CrawlerError):
    """A query that does not parse. `position` is a 0-based offset into the query, or None."""

    def __init__(
        self, query: str, message: str, position: int | None = None, hint: str = ""
    ) -> None:
        self.query = query
        self.message = message
        self.position = position
        self.hint = hint
        text = message if position is None else f"{message} at position {position + 1}"
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class QueueError(CrawlerError):
    pass


class StateError(CrawlerError):
    pass


class FetchError(CrawlerError):
    """A fetch from the command line (`topics test URL`, `sources discover`) failed or was
    refused by the address guard (`crawler.guard`); the message says which."""


class WorkerExited(CrawlerError):
    """A worker process ended (killed, out of memory, a crash in a parser) while it held a task;
    the task's page or poll was not recorded and is done again later."""


class DeliveryError(CrawlerError):
    """An alert email was not delivered; `code` is the SMTP reply code, if there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        self.retry_after: float | None = None  # seconds the receiver asked to wait (Retry-After)
        self.attempts_limit: int | None = None  # give up after this many temporary failures
        super().__init__(message)


class TemporaryFailure(DeliveryError):
    """Delivery failed for now; the same message may be sent again later."""


class PermanentFailure(DeliveryError):
    """Delivery failed in a way that retrying will not fix (a reply code of 5xx, a setting)."""


def write_failure(exc: BaseException) -> str:
    """How a failed write to the shared state reads in the log: which store, and why."""
    import sqlite3

    where = "state database" if isinstance(exc, sqlite3.Error) else "cluster redis"
    return f"{where}: {exc}"
