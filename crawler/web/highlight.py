"""Matched terms marked in text, as escaped HTML (`<mark>` around each occurrence).

The words of a term are found with the topics engine's own tokens (crawler/topics/text.py:
the same folding of case and accents, the same idea of a word), so what is marked is what the
matcher counted. When the matcher reports the spans it matched, they replace `term_spans`.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from crawler.topics.text import Tokens, tokenize

FTS_OPEN, FTS_CLOSE = "\ue000", "\ue001"  # what state.search_archive wraps hits in
_FIELDS = ("title:", "text:", "url:", "source:", "author:")


def _pattern(label: str) -> tuple[list[str], bool]:
    """A term as written in a query ('drone*', '"artillery shells"~3', 'title:iran') -> its
    tokens, and whether the last one is a prefix."""
    label = label.strip().lstrip("+")
    for field in _FIELDS:
        if label.lower().startswith(field):
            label = label[len(field) :]
    if "~" in label and label.startswith('"'):
        label = label[: label.rindex("~")]
    prefix = label.endswith("*")
    return tokenize(label.strip('"*')), prefix


def term_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of `terms` in `text`, sorted and merged."""
    tokens = Tokens(text)
    words = tokens.tokens
    spans = []
    for label in terms:
        pattern, prefix = _pattern(label)
        if not pattern:
            continue
        size = len(pattern)
        for first in range(len(words) - size + 1):
            if words[first : first + size - 1] != pattern[:-1]:
                continue
            last = words[first + size - 1]
            if last == pattern[-1] or (prefix and last.startswith(pattern[-1])):
                spans.append(tokens.span(first, first + size))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark(text: str, terms: Iterable[str]) -> Markup:
    """`text` escaped, each occurrence of `terms` in <mark>."""
    out, at = [], 0
    for start, end in term_spans(text, terms):
        out.append(escape(text[at:start]))
        out.append(Markup("<mark>%s</mark>") % text[start:end])
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def mark_fts(snippet: str) -> Markup:
    """An FTS5 snippet escaped, its hits (between FTS_OPEN and FTS_CLOSE) in <mark>."""
    html = str(escape(snippet))
    return Markup(html.replace(FTS_OPEN, "<mark>").replace(FTS_CLOSE, "</mark>"))
