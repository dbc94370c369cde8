"""Syntax errors in topic queries, found before luqum parses or translated from its messages.

luqum reports "unexpected 'X' at position N" or "unexpected end of expression"; users need to
know *what* is wrong, so quotes and parentheses are checked here first (with the position of the
culprit), and luqum's messages are turned into a :class:`QueryError` that names the operator or
field at fault.
"""

from __future__ import annotations

import re

from crawler.errors import QueryError

MAX_QUERY_LENGTH = 10_000  # characters: parsing stays fast and bounded
MAX_DEPTH = 100  # parentheses nested inside each other

_OPERATORS = ("AND", "OR", "NOT", "+", "-")
_UNEXPECTED_RE = re.compile(r"unexpected\s+'(?P<token>.*)' at position (?P<pos>\d+)")
_ILLEGAL_RE = re.compile(r"Illegal character '(?P<token>.*)' at position (?P<pos>\d+)", re.S)
_LAST_TOKEN_RE = re.compile(r"(?P<token>[^\s()]+|[()])\s*$")


def precheck(query: str) -> None:
    """Raise :class:`QueryError` for an empty query, one longer than `MAX_QUERY_LENGTH` or
    nested deeper than `MAX_DEPTH`, an open quote or unbalanced parentheses."""
    if not query.strip():
        raise QueryError(query, "empty query", 0, "write the words to look for, e.g. iran drones")
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(
            query,
            f"query too long: {len(query)} characters, at most {MAX_QUERY_LENGTH}",
            None,
            "split it into several topics",
        )
    quote_at: int | None = None
    opened: list[int] = []
    escaped = False
    for index, char in enumerate(query):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quote_at = index if quote_at is None else None
        elif quote_at is not None:
            continue
        elif char == "(":
            opened.append(index)
            if len(opened) > MAX_DEPTH:
                raise QueryError(
                    query,
                    f"parentheses nested more than {MAX_DEPTH} deep",
                    index,
                    "remove the extra parentheses",
                )
        elif char == ")":
            if not opened:
                raise QueryError(
                    query, "unbalanced parenthesis: ')' closes nothing", index, "remove it"
                )
            opened.pop()
    if quote_at is not None:
        raise QueryError(
            query, "unbalanced quote: the phrase is never closed", quote_at, 'add the closing "'
        )
    if opened:
        raise QueryError(
            query, "unbalanced parenthesis: '(' is never closed", opened[-1], "add the ')'"
        )


def describe_parse_error(query: str, message: str) -> QueryError:
    """Turn a luqum parse error message into a :class:`QueryError` with a useful hint."""
    illegal = _ILLEGAL_RE.search(message)
    if illegal:
        position = int(illegal["pos"])
        char = query[position] if position < len(query) else illegal["token"][:1]
        return QueryError(
            query,
            f"unexpected character {char!r}",
            position,
            "put text with special characters in quotes, or escape them with a backslash",
        )
    unexpected = _UNEXPECTED_RE.search(message)
    if unexpected is None:  # unexpected end of the query
        return _dangling(query, len(query.rstrip()))
    token, position = unexpected["token"], int(unexpected["pos"])
    if token in ("AND", "OR"):
        before = _last_token(query, position)
        if before is not None and before[0] in _OPERATORS:
            return _operator_error(query, *before)
        return QueryError(
            query,
            f"dangling operator {token!r}: nothing on its left",
            position,
            f"put a term on both sides of {token}",
        )
    if token == ")":
        return _dangling(query, position)
    if token == ":":
        return QueryError(
            query,
            "':' without a field name",
            position,
            "write field:term, or put text that contains ':' in quotes",
        )
    if token == "TO":
        return QueryError(query, "range is not supported", position, "topics match words only")
    return QueryError(
        query, f"syntax error near {token!r}", position, "check the operators and parentheses"
    )


def _dangling(query: str, end: int) -> QueryError:
    """Something is missing before `end` (the end of the query or a ')')."""
    last = _last_token(query, end)
    if last is None:
        return QueryError(query, "empty query", 0, "write the words to look for")
    token, position = last
    if token == "(":
        return QueryError(query, "empty parentheses", position, "put terms inside or remove them")
    if token.endswith(":"):
        return QueryError(
            query,
            f"field {token[:-1]!r} has no value",
            position,
            "write field:term or field:(one OR other)",
        )
    if token in _OPERATORS:
        return _operator_error(query, token, position)
    return QueryError(query, "unexpected end of query", end, "check the operators and parentheses")


def _operator_error(query: str, token: str, position: int) -> QueryError:
    if token in ("NOT", "-", "+"):
        hint = f"put the term to {'exclude' if token != '+' else 'require'} right after {token}"
    else:
        hint = f"put a term on both sides of {token}"
    return QueryError(query, f"dangling operator {token!r}", position, hint)


def _last_token(query: str, end: int) -> tuple[str, int] | None:
    """The last whitespace-separated token before `end`, and where it starts."""
    match = _LAST_TOKEN_RE.search(query, 0, end)
    if match is None:
        return None
    token = match["token"]
    for operator in ("+", "-"):  # "-" glued to what precedes it, e.g. "iran -"
        if token.endswith(operator) and token != operator:
            return operator, match.start("token") + len(token) - 1
    return token, match.start("token")
