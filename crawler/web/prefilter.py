"""A topic query's necessary words as an FTS5 expression, so the topic tester runs the matcher
only on the archived articles that can match (the archive's full-text index finds them).

The expression is looser than the query: an article the query matches also matches the
expression, and the matcher (crawler/topics/) decides. Whatever FTS5 would tokenise differently
from the topics engine is left out: terms with other than ASCII letters and digits
(accents, CJK, ß...), fields FTS5 does not index in the same way (url, source, author), the
language and exclusions. A query with nothing left gives None: test every article. One gap
remains: FTS5 folds accents but not ß, ligatures or full-width letters as the topics engine
does, so `strasse` finds "Strasse" but not "Straße" through the index (the tester's "every
article" choice scans without it).

>>> from crawler.topics import parse_query
>>> necessary(parse_query('(iran OR tehran) AND "artillery shells" -football').root)
'("iran" OR "tehran") AND "artillery shells"'
"""

from __future__ import annotations

import re

from crawler.topics.query import And, Lang, Node, Not, Or, Term

_PLAIN = re.compile(r"[a-z0-9]+")
_INDEXED = {"title", "text"}


def necessary(node: Node) -> str | None:
    """An FTS5 expression every article matching `node` matches, or None if there is none."""
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Lang | Not):
        return None
    if isinstance(node, Or):
        parts = [necessary(child) for child in node.children]
        if any(part is None for part in parts):
            return None
        return "(" + " OR ".join(p for p in parts if p) + ")"
    assert isinstance(node, And)
    kept = [p for p in (necessary(child) for child in node.children) if p]
    return " AND ".join(kept) if kept else None


def _term(term: Term) -> str | None:
    if not set(term.fields) <= _INDEXED or not term.tokens:
        return None
    if not all(_PLAIN.fullmatch(token) for token in term.tokens):
        return None
    if term.slop is not None:  # any order within a window: each word must be there
        words = [f'"{t}"' for t in term.tokens]
        if term.prefix:
            words[-1] += "*"
        expression = " AND ".join(words)
        expression = f"({expression})" if len(words) > 1 else expression
    else:
        expression = '"' + " ".join(term.tokens) + '"' + ("*" if term.prefix else "")
    if set(term.fields) == _INDEXED:
        return expression
    return f"{{{' '.join(sorted(term.fields))}}} : {expression}"
