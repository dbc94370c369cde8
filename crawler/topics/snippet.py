"""Snippets: a short piece of an article around the densest cluster of matched terms."""

from __future__ import annotations

import re
from collections.abc import Sequence

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
    return cut_with_spans(text, cluster, [], width)[0]


def cut_with_spans(
    text: str, cluster: tuple[int, int], spans: list[tuple[int, int]], width: int = WIDTH
) -> tuple[str, list[tuple[int, int]]]:
    """:func:`cut`, and where each of `spans` (ranges of `text`) is in the snippet: the spans
    that lie wholly inside it, moved to its offsets, sorted and without overlaps."""
    if not text:
        return "", []
    start, end = cluster
    pad = max(0, width - (end - start)) // 2
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    if lo == 0:
        hi = min(len(text), max(hi, width))
    if hi == len(text):
        lo = max(0, min(lo, len(text) - width))
    lo = _word_start(text, lo, start)
    hi = _word_end(text, hi, end)
    prefix = ELLIPSIS if lo > 0 else ""
    body, where = _collapse(text, lo, hi, len(prefix))
    moved = [
        (where[a], where[b - 1] + 1)
        for a, b in sorted(spans)
        if lo <= a < b <= hi and where[a] >= 0 and where[b - 1] >= 0
    ]
    return f"{prefix}{body}{ELLIPSIS if hi < len(text) else ''}", merge_spans(moved)


def runs(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` split into (piece, is_match) runs at `spans` (sorted, non-overlapping ranges of
    `text`; ranges outside it are ignored). Readers render highlights from these runs."""
    out: list[tuple[str, bool]] = []
    position = 0
    for start, end in merge_spans([(max(0, a), min(len(text), b)) for a, b in spans]):
        if start < position:
            continue
        if start > position:
            out.append((text[position:start], False))
        out.append((text[start:end], True))
        position = end
    if position < len(text) or not out:
        out.append((text[position:], False))
    return out


def mark(text: str, spans: Sequence[tuple[int, int]], before: str = "[", after: str = "]") -> str:
    """`text` with each span between `before` and `after`, for a terminal."""
    return "".join(f"{before}{piece}{after}" if hit else piece for piece, hit in runs(text, spans))


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` sorted, with overlapping or touching ranges joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif end > start:
            merged.append((start, end))
    return merged


def _collapse(text: str, lo: int, hi: int, offset: int) -> tuple[str, dict[int, int]]:
    """``" ".join(text[lo:hi].split())`` and, for each index of `text` in [lo, hi) that is kept,
    its index in the result plus `offset` (-1 for dropped whitespace)."""
    out: list[str] = []
    where: dict[int, int] = {}
    pending_space = False
    for index in range(lo, hi):
        char = text[index]
        if char.isspace():
            pending_space = bool(out)
            where[index] = -1
            continue
        if pending_space:
            out.append(" ")
            pending_space = False
        where[index] = offset + len(out)
        out.append(char)
    return "".join(out), where


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
