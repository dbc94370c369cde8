"""Text normalisation and tokens: the one place that decides what a "word" is.

Queries and articles go through the same two steps, so a query term matches an article word
exactly when both fold to the same token:

1. :func:`fold` - NFKD, drop combining marks (accents, Arabic harakat, Hebrew points) and
   invisible joiners / soft hyphens, then casefold. "Téhéran" -> "teheran", "STRASSE" and
   "Straße" -> "strasse", "Ωμέγα" -> "ωμεγα".
2. :func:`tokenize` - runs of letters and digits. Everything else separates words, so
   "Iran-Russia" gives ``iran, russia``. An English possessive ``'s`` (straight or typographic
   apostrophe) is dropped: "Iran\u2019s" gives ``iran``. Chinese, Japanese and Korean runs become
   overlapping character bigrams, as Lucene's CJK analyzer does.

:class:`Tokens` also finds each token back in the text as written, for snippets.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from functools import cache
from itertools import accumulate

# Nonspacing marks of the Basic Multilingual Plane plus format characters that hide inside words
# (soft hyphen, zero-width space / joiners, word joiner, BOM). One character class over the BMP
# compiles to a bitmap; marks above it are rare and handled by a second pattern.
_INVISIBLE = {0x00AD, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}
_BMP_MARKS = "".join(
    chr(cp) for cp in range(0x10000) if cp in _INVISIBLE or unicodedata.category(chr(cp)) == "Mn"
)
_MARKS_RE = re.compile(f"[{re.escape(_BMP_MARKS)}]+")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_MARKS = {
    cp: None for cp in range(0x10000, 0x30000) if unicodedata.category(chr(cp)) == "Mn"
}
_ASTRAL_MARKS.update(dict.fromkeys(range(0xE0100, 0xE01F0)))  # variation selectors supplement

# Scripts written without spaces between words (plus Hangul, whose words carry particles).
# NFKD turns Hangul syllables into conjoining jamo, hence the jamo ranges.
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_CJK_RE = re.compile(f"[{_CJK}]")
_APOSTROPHES = "'\u2019\u2018"  # fold() turns the modifier letter apostrophe into \u2019
_TOKEN_RE = re.compile(f"[{_CJK}]+|(?!(?<=\\w[{_APOSTROPHES}])s\\b)[^\\W{_CJK}]+")
_SPLIT_RE = re.compile(f"({_TOKEN_RE.pattern})")  # keeps the tokens between separators


def fold(text: str) -> str:
    """Return `text` case- and accent-folded (NFKD, marks dropped, casefolded)."""
    if text.isascii():
        return text.lower()
    text = _MARKS_RE.sub("", unicodedata.normalize("NFKD", text)).replace("\u02bc", "\u2019")
    if _ASTRAL_RE.search(text):
        text = text.translate(_ASTRAL_MARKS)
    return text.casefold()


def tokenize(text: str) -> list[str]:
    """Return the normalised tokens of `text`, in order."""
    return Tokens(text).tokens


class Tokens:
    """The tokens of one text, and where each one is in that text (worked out on demand).

    Token positions are first known in the folded text; :meth:`original` maps a folded range
    back to the text as written. When every character folds to exactly one character the two
    agree; otherwise the characters that do not (ligatures, "…", ß, stray marks) are folded
    one by one and each stretch of the folded text remembers where it starts in the original.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        folded = fold(text)
        self._pieces: list[str] | None = None  # separator, token, separator, token, ...
        self._spans: list[tuple[int, int]] | None = None
        self._ends: list[int] | None = None
        if _CJK_RE.search(folded):
            found = _split_cjk(_TOKEN_RE.finditer(folded))
            self.tokens = [token for token, _, _ in found]
            self._spans = [(start, end) for _, start, end in found]
        else:
            self._pieces = _SPLIT_RE.split(folded)
            self.tokens = self._pieces[1::2]
        self._stretches: tuple[list[int], list[int], list[bool]] | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def folded_span(self, first: int, last: int) -> tuple[int, int]:
        """Where tokens `first` to `last - 1` are in the folded text."""
        if self._spans is not None:
            return self._spans[first][0], self._spans[last - 1][1]
        if self._ends is None:
            self._ends = list(accumulate(map(len, self._pieces or ())))
        return self._ends[2 * first], self._ends[2 * last - 1]

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Where tokens `first` to `last - 1` are in the text as written."""
        return self.original(self.folded_span(first, last))

    def original(self, folded: tuple[int, int]) -> tuple[int, int]:
        """The characters of the text as written that a range of the folded text came from."""
        start, end = folded
        if self._stretches is None:
            self._stretches = _stretches(self.text)
        if not self._stretches[0]:
            return start, end
        return _original(self._stretches, start), _original(self._stretches, end - 1) + 1


def _split_cjk(matches: Iterator[re.Match[str]]) -> list[tuple[str, int, int]]:
    """Tokens with their (start, end) in the folded text, CJK runs cut into bigrams."""
    out: list[tuple[str, int, int]] = []
    for match in matches:
        word, start = match.group(), match.start()
        if not _CJK_RE.match(word) or len(word) == 1:
            out.append((word, start, match.end()))
            continue
        for i in range(len(word) - 1):
            out.append((word[i : i + 2], start + i, start + i + 2))
    return out


@cache
def _fold_char(char: str) -> str:
    return fold(char)


@cache
def _uneven_re() -> re.Pattern[str]:
    """Characters that do not fold to exactly one character: marks, ligatures, ß, Hangul…"""
    chars = "".join(chr(cp) for cp in range(0x80, 0x10000) if len(fold(chr(cp))) != 1)
    return re.compile(f"[{re.escape(chars)}\U00010000-\U0010ffff]")


def _stretches(text: str) -> tuple[list[int], list[int], list[bool]]:
    """Where each stretch starts in the folded and in the original text, and whether it folds
    character for character. Empty lists when the whole text does."""
    folded_starts: list[int] = []
    starts: list[int] = []
    even: list[bool] = []
    if text.isascii() or not _uneven_re().search(text):
        return folded_starts, starts, even
    length = done = 0
    for match in _uneven_re().finditer(text):
        for start, piece, is_even in (
            (done, fold(text[done : match.start()]), True),
            (match.start(), _fold_char(match.group()), False),
        ):
            folded_starts.append(length)
            starts.append(start)
            even.append(is_even)
            length += len(piece)
        done = match.end()
    folded_starts.append(length)
    starts.append(done)
    even.append(True)
    return folded_starts, starts, even


def _original(stretches: tuple[list[int], list[int], list[bool]], offset: int) -> int:
    folded_starts, starts, even = stretches
    stretch = bisect_right(folded_starts, offset) - 1
    if even[stretch]:
        return starts[stretch] + offset - folded_starts[stretch]
    return starts[stretch]


def token_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every token of ``tokenize(text)`` in `text` itself."""
    tokens = Tokens(text)
    return [tokens.span(index, index + 1) for index in range(len(tokens))]
