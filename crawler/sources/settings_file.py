"""Adding feeds to the settings file without disturbing what a person wrote in it.

`add_feeds` inserts new `[[feeds]]` tables after the last one in the file (at the end when there
is none) and leaves every other byte, comments included, as it was::

    added = add_feeds("settings/crawler.toml", [FeedSource(url="https://example.org/rss.xml")])

The new tables are rendered by tomlkit, so names and tags are quoted the TOML way. Before the file
is replaced, the result must read back as the old settings plus exactly the new feeds and must
pass `load_settings`; otherwise nothing is written and `SettingsError` says why. The file is
replaced atomically (a temporary file in the same folder, then `os.replace`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomlkit

from crawler.config import FeedSource, load_settings, settings_from_dict
from crawler.dedup import normalize_url
from crawler.errors import SettingsError

_FEEDS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*feeds[ \t]*\]\][ \t]*(#.*)?$")
_ANY_HEADER = re.compile(r"^[ \t]*\[")
_COMMENT = re.compile(r"^[ \t]*#")


def add_feeds(path: str | Path, feeds: Iterable[FeedSource], *, dry_run: bool = False) -> list[str]:
    """Append the feeds whose URL the settings do not list yet; return the URLs added, in order.

    With `dry_run` the file is checked the same way but left alone.
    """
    path = Path(os.path.realpath(path))  # replace the file a symlink points to, not the link
    current = load_settings(path)  # a file that is already broken is the person's to fix
    known = {normalize_url(feed.url) for feed in current.feeds}
    new: list[FeedSource] = []
    for feed in feeds:
        key = normalize_url(feed.url)
        if key not in known:
            known.add(key)
            new.append(feed)
    if not new:
        return []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(str(path), None, f"not UTF-8: {exc}") from None
    updated = _with_feeds(text, [_table(feed) for feed in new], str(path))
    if dry_run:
        settings_from_dict(tomllib.loads(updated), str(path))
    else:
        _replace(path, updated.encode("utf-8"))
    return [feed.url for feed in new]


def _table(feed: FeedSource) -> dict[str, Any]:
    table: dict[str, Any] = {"url": feed.url}
    if feed.name:
        table["name"] = feed.name
    if feed.tags:
        table["tags"] = list(feed.tags)
    return table


def _with_feeds(text: str, tables: list[dict[str, Any]], where: str) -> str:
    """`text` with `tables` added to its feeds; the rest of the text unchanged."""
    newline = "\r\n" if "\r\n" in text else "\n"
    before = tomllib.loads(text)
    expected = {**before, "feeds": [*before.get("feeds", []), *tables]}
    block = tomlkit.dumps({"feeds": tables}).replace("\n", newline)
    for offset in dict.fromkeys((_after_last_feed(text), len(text))):
        candidate = _insert(text, offset, block, newline)
        if _reads_as(candidate, expected):
            return candidate
    # `feeds = [...]` written as an inline array: add to the array itself
    document = tomlkit.parse(text)
    array = document.get("feeds")
    if isinstance(array, tomlkit.items.Array):
        for table in tables:
            inline = tomlkit.inline_table()
            inline.update(table)
            array.append(inline)
        array.multiline(True)
        candidate = tomlkit.dumps(document)
        if _reads_as(candidate, expected):
            return candidate
    raise SettingsError(where, "feeds", "cannot add feeds to this file; add them by hand")


def _after_last_feed(text: str) -> int:
    """Where a new [[feeds]] table goes: after the last one's keys and the comments that follow
    them, before the comment block that introduces the next table. The end when there is none."""
    lines = text.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    lines = [line.rstrip("\r") for line in lines]
    last = max((i for i, line in enumerate(lines) if _FEEDS_HEADER.match(line)), default=None)
    if last is None:
        return len(text)
    following = next(
        (i for i in range(last + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines)
    )
    if following == len(lines):
        return len(text)
    while following > last + 1 and _COMMENT.match(lines[following - 1]):
        following -= 1  # a comment right above a header belongs to that header
    while following > last + 1 and not lines[following - 1].strip():
        following -= 1  # blank lines separate the new tables from the next section
    return starts[following]


def _insert(text: str, offset: int, block: str, newline: str) -> str:
    head, tail = text[:offset], text[offset:]
    if head and not head.endswith("\n"):
        head += newline  # a file without a final newline
    last_line = (head.splitlines() or [""])[-1]
    prefix = newline if last_line.strip() else ""  # one blank line before the new tables
    suffix = newline if tail.strip() and not tail.startswith(("\n", "\r\n")) else ""
    return head + prefix + block + suffix + tail


def _reads_as(text: str, expected: dict[str, Any]) -> bool:
    try:
        return tomllib.loads(text) == expected
    except tomllib.TOMLDecodeError:
        return False


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, check it, then rename it over `path`."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, temporary)
        try:
            load_settings(temporary)
        except SettingsError as exc:
            raise SettingsError(str(path), exc.key, exc.message) from None
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
