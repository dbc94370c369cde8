"""Logging: one line per event, as text or JSON, on standard error.

Lines carry stable keys (`source=URL url=URL error=...`). Control and ANSI characters that
arrive in URLs, titles or server messages are escaped, so nothing read from the network can
forge a log line or drive the terminal.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Loggers whose INFO lines are Scrapy's and the libraries' own chatter.
_QUIET = ("scrapy", "twisted", "trafilatura", "htmldate", "courlan", "filelock", "apscheduler")
# These report failures that crawler.spider logs itself, one line each.
_REPEATED = (
    "scrapy.downloadermiddlewares.retry",
    "scrapy.downloadermiddlewares.robotstxt",  # the page request then fails and is logged
    "scrapy.core.downloader.handlers.http11",
)


def escape(text: str) -> str:
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(*, verbose: bool = False, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in _REPEATED:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL)
