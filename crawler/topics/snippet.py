"""Snippets: a short piece of an article around the densest cluster of matched terms."""

from __future__ import annotations

import re

WIDTH = 200
ELLIPSIS = "…"
_SPACE = re.compile(r"\s+")
_LAST_SPACE = re.compile(r"\s+\S*$")


def make_snippet(text: str, hits: list[tuple[int, int]], width: int = WIDTH) -> str:
    """About `width` characters of `text` around the most hits that fit in `width`.

    `hits` are (start, end) character ranges in `text`. Without hits the snippet is the start
    of `text`.
    """
    return cut(text, densest(hits, width) if hits else (0, 0), width)


def densest(hits: list[tuple[int, int]], width: int = WIDTH) -> tuple[int, int]:
    """The (start, end) of the cluster of hits with the most hits within `width` characters."""
    return _densest(sorted(hits), width)


def cut(text: str, cluster: tuple[int, int], width: int = WIDTH) -> str:
    """About `width` characters of `text` centred on `cluster` (a character range).

    The cut is moved to word boundaries, whitespace is collapsed, and "…" marks each end that
    was cut.
    """
    if not text:
        return ""
    start, end = cluster
    pad = max(0, width - (end - start)) // 2
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    if lo == 0:
        hi = min(len(text), max(hi, width))
    if hi == len(text):
        lo = max(0, min(lo, len(text) - width))
    lo = _word_start(text, lo, start)
    hi = _word_end(text, hi, end)
    body = " ".join(text[lo:hi].split())
    return f"{ELLIPSIS if lo > 0 else ''}{body}{ELLIPSIS if hi < len(text) else ''}"


def _densest(hits: list[tuple[int, int]], width: int) -> tuple[int, int]:
    """The (start, end) of the run of consecutive hits that has the most hits within `width`."""
    best = (0, 0, 0)  # count, first, last
    last = 0
    for first in range(len(hits)):
        last = max(last, first)
        while last + 1 < len(hits) and hits[last + 1][1] - hits[first][0] <= width:
            last += 1
        if last - first + 1 > best[0]:
            best = (last - first + 1, first, last)
    _, first, last = best
    return hits[first][0], max(end for _, end in hits[first : last + 1])


def _word_start(text: str, lo: int, limit: int) -> int:
    """Move `lo` forward past a partial word, but never beyond `limit`."""
    if lo == 0 or text[lo - 1].isspace():
        return lo
    space = _SPACE.search(text, lo, limit)
    return space.end() if space else lo


def _word_end(text: str, hi: int, limit: int) -> int:
    """Move `hi` back before a partial word, but never before `limit`."""
    if hi >= len(text) or text[hi].isspace():
        return hi
    space = _LAST_SPACE.search(text, limit, hi)
    return space.start() if space else hi
