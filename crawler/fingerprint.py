"""What a body is reduced to for duplicate checks: its normalised text, its content hash and
the facts it carries.

`normalize_text` and `content_hash` are the exact layer (the SHA-256 of the normalised body is
stored with every item, so neither may change). `facts` and `agreement` are the second half of
the near layer: two bodies whose wording is near (MinHash, crawler/neardup.py) are one story
only when their facts agree, so that one earthquake report, market close or match result is not
taken for another written from the same template.

The facts of a body, language-independent:

- numbers: runs of digits in any script (Arabic-Indic, Devanagari, full-width... read as ASCII
  digits) with their inner separators, so "18,412", "4.6", a score "3-1", a time "14:32" and a
  date "2026-03-04" are one fact each; a number followed by "%" keeps it ("0.8%");
- names: capitalised words not at the start of a sentence (people, places, organisations,
  teams, indexes, and in English the names of months and weekdays), case-folded.

Scripts without case (Chinese, Japanese, Thai, Arabic, Hebrew...) have no capitals, so their
bodies carry numbers and numeric dates only; the rule then rests on the numbers alone.

    >>> facts("The DAX closed up 0.8% at 18,412 points on Tuesday.")
    Facts(numbers=('0.8%', '18,412'), names=('tuesday',))
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any, NamedTuple

__all__ = [
    "MAX_FACTS",
    "MIN_SHARED_NAMES",
    "MIN_SHARED_NUMBERS",
    "Agreement",
    "Facts",
    "agreement",
    "content_hash",
    "facts",
    "normalize_text",
]

_WORDS = re.compile(r"\w+")
# digits with inner separators ("18,412", "3-1", "14:32", "2026-03-04", Arabic-Indic ones), then "%"
_NUMBER = re.compile(r"\d+(?:[.,:/\-\u2013\u066b\u066c]\d+)*%?")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
# what ends a sentence (or a line): a word after one of these is not taken for a name
_SENTENCE_END = set(
    ".!?\u2026\u3002\uff01\uff1f:;\n\"'\u201c\u201d\u2018\u2019\u00ab\u00bb(-\u2013\u2014*\u2022"
)

MAX_FACTS = 1000
"""Facts of each kind kept per body (the first distinct ones): more than a long story carries,
bounded for what is stored with each signature."""

MIN_SHARED_NUMBERS = 1.0
"""Share of the numbers of the body with fewer numbers that the other must carry: all of them.
A copy may lack numbers (trimmed) but never carries one the other lacks; one figure, date or
score of its own makes it another story (the next quake, the same closure a week later).
Chosen with bench/dedup.py: lower shares merge such near twins."""

MIN_SHARED_NAMES = 0.9
"""Share of the names of the body with fewer names that the other must carry. Credit lines
and bylines add names to one copy, a correction may bring one; a template filled in for
another place, team or weekday keeps its fixed names but loses one or two of its own. Chosen
with bench/dedup.py: 0.8 merges three times as many such near twins, 1.0 misses copies."""


def normalize_text(text: str) -> str:
    """Body text reduced to what makes two copies of a story equal: words, case- and
    accent-folded, joined by single spaces."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return " ".join(_WORDS.findall(folded))


def content_hash(text: str) -> str:
    """Exact fingerprint of a body: SHA-256 of its normalised text."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


class Facts(NamedTuple):
    """The numbers and names a body carries, each in order of first appearance, distinct."""

    numbers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        return {"numbers": list(self.numbers), "names": list(self.names)}

    def to_bytes(self) -> bytes:
        """Compact UTF-8 JSON, as stored with a signature (`Signature.to_bytes`) and in Redis."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Facts:
        """The facts `to_bytes` wrote; ValueError for anything else."""
        try:
            return cls.from_json(json.loads(data.decode()))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"unreadable facts: {exc}") from exc

    @classmethod
    def from_json(cls, data: Any) -> Facts:
        """The facts `to_json` gave; ValueError for anything else."""
        if not isinstance(data, dict):
            raise ValueError("facts must be an object")
        kinds = [data.get("numbers", []), data.get("names", [])]
        if not all(isinstance(k, list) and all(isinstance(v, str) for v in k) for k in kinds):
            raise ValueError("facts must be lists of strings")
        return cls(tuple(kinds[0]), tuple(kinds[1]))


_SEPARATORS = str.maketrans({"\u066b": ".", "\u066c": ",", "\u2013": "-"})


def _ascii_digits(number: str) -> str:
    """A number as ASCII digits and separators, whatever script its digits are written in."""
    digits = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in number)
    return digits.translate(_SEPARATORS)


def _distinct(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))[:MAX_FACTS]


def _at_sentence_start(text: str, start: int) -> bool:
    at = start - 1
    while at >= 0 and text[at] in " \t\u00a0":
        at -= 1
    return at < 0 or text[at] in _SENTENCE_END


def facts(text: str) -> Facts:
    """The facts of one body (see the module docstring); pure, so it runs in a worker."""
    text = unicodedata.normalize("NFKC", text)
    numbers = [_ascii_digits(m.group()) for m in _NUMBER.finditer(text)]
    names = [
        m.group().casefold()
        for m in _WORD.finditer(text)
        if m.group()[0].isupper() and not _at_sentence_start(text, m.start())
    ]
    return Facts(_distinct(numbers), _distinct(names))


class Agreement(NamedTuple):
    """How the facts of two bodies compare: `agree` is the verdict, the rest says why."""

    agree: bool
    shared: Facts  # the facts both carry
    missing: Facts  # facts of the body with fewer that the other lacks

    def to_json(self) -> dict[str, Any]:
        return {
            "agree": self.agree,
            "shared": self.shared.to_json(),
            "missing": self.missing.to_json(),
        }


def _compare(
    a: tuple[str, ...], b: tuple[str, ...]
) -> tuple[float, tuple[str, ...], tuple[str, ...]]:
    fewer, more = (a, b) if len(a) <= len(b) else (b, a)
    others = set(more)
    shared = tuple(v for v in fewer if v in others)
    missing = tuple(v for v in fewer if v not in others)
    return (len(shared) / len(fewer) if fewer else 1.0), shared, missing


def agreement(
    a: Facts,
    b: Facts,
    *,
    min_numbers: float = MIN_SHARED_NUMBERS,
    min_names: float = MIN_SHARED_NAMES,
) -> Agreement:
    """Do two bodies carry the same facts? Of the body with fewer numbers, at least
    `min_numbers` of them must be in the other; of the body with fewer names, `min_names` of
    them. A trimmed copy lacks some facts and a copy with a credit line has more names, but
    neither carries figures of its own."""
    numbers = _compare(a.numbers, b.numbers)
    names = _compare(a.names, b.names)
    return Agreement(
        agree=numbers[0] >= min_numbers and names[0] >= min_names,
        shared=Facts(numbers[1], names[1]),
        missing=Facts(numbers[2], names[2]),
    )
