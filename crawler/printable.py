"""Text that is valid and printable: the rule at every edge where text enters crawler, and the
escaping of what the command line prints.

A feed or page may carry what no user wants and some code cannot even store: lone surrogates
(a JSON Feed may escape half a pair, "\\ud800", which no UTF-8 encoder accepts), NUL, ESC, BEL
and the other control characters (a terminal acts on ESC sequences). The feed and sitemap
adapters and the item builder pass every string through `printable`, which replaces each such
character with U+FFFD, so one bad character costs one character, never the entry or the feed::

    printable("Title\\x1b[31m red")     # 'Title\\ufffd[31m red'
    printable("line one\\nline two", multiline=True)   # newlines and tabs kept

`escaped` is for output: what is printed to a terminal shows such characters as escapes
(`\\x1b`) instead of sending them, for items written before this rule or by other programs.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"

# C0 and C1 controls and DEL, lone surrogates, the Unicode line and paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
# The same, less tab and newline: what a text of several lines may keep.
_UNPRINTABLE_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character and lone surrogate replaced by U+FFFD; with
    `multiline`, tabs and newlines stay (a carriage return becomes a newline)."""
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return _UNPRINTABLE_MULTILINE.sub(REPLACEMENT, text)
    return _UNPRINTABLE.sub(REPLACEMENT, text)


def printable_or_none(value: object) -> str | None:
    """`printable(str(value))`, None for None."""
    return None if value is None else printable(str(value))


def escaped(text: str) -> str:
    """`text` for a terminal line: each unprintable character written as a Python escape."""
    return _UNPRINTABLE.sub(_escape, text)


def escaped_json(text: str) -> str:
    """JSON text (`json.dumps(..., ensure_ascii=False)`, indented or not) for a terminal: the
    characters JSON leaves raw in strings (DEL, C1 controls, lone surrogates, separators)
    written as \\u escapes, so the output stays the same JSON value."""
    return _UNPRINTABLE_MULTILINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
