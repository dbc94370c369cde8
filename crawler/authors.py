"""Author names from what pages credit: JSON-LD Person objects, <meta> values and bylines.

    >>> author_names("By TOM KRISHER, AP Auto Writer", None)
    ['Tom Krisher']
    >>> author_names("Meg Kinnard and Errin Haines, Associated Press", None)
    ['Meg Kinnard', 'Errin Haines']
    >>> author_names("Associated Press", None)
    ['Associated Press']

A credit ends where a byline goes on to a date, a time or a handle; it is cut into parts (at
";", "|", ",", " and ", " & "); a part that is a role ("Staff
Writer"), a credential ("MS", "PhD"), an outlet ("CNN Business", "Cleveland.com", the page's
own site name) or a single word after the first name is not a name, unless it is all the
credit holds (an agency or a desk named as the author: "Reuters", "Telegraph Sport").
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["author_names"]

_LEAD = re.compile(
    r"^(?:(?:posted|written|analysis|reporting|text|story|words|photos?)\s+)?(?:by|von|par|por|di)"
    r"[:\s]+",
    re.IGNORECASE,
)
# where a byline goes on to other things: a date or time, a handle, "Published", "Updated"
_BYLINE_END = re.compile(
    r"(?:\s|^)(?:@\w|\d|(?:published|updated|posted|print)\b)|\s[\u2022\u00b7]"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d"
    r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day,",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"\s*(?:[;|,]|\s(?:and|und|et|y|e)\s|&)\s*", re.IGNORECASE)
_ROLE = re.compile(
    r"\b(?:writer|editor|editors|correspondent|reporter|contributor|columnist|staff|critic"
    r"|producer|analyst|journalist|photographer|intern|bureau chief|at[- ]large)\b",
    re.IGNORECASE,
)
_OUTLET = re.compile(
    r"\.(?:com|org|net|co\.uk)\b|\b(?:news|press|media|business|insider|magazine|times|post"
    r"|journal|daily|reuters|agency|wire|network)\b",
    re.IGNORECASE,
)
_CREDENTIAL = re.compile(r"(?:[A-Z]{1,4}|Ph\.?D\.?|M\.?D\.?|Jr\.?|Sr\.?)")
_MAX_NAME_WORDS = 6


def author_names(credit: Any, sitename: str | None) -> list[str]:
    """The names in one credit: a string, a JSON-LD Person or Organization, or a list of them."""
    names: list[str] = []
    for item in credit if isinstance(credit, list) else [credit]:
        value = item.get("name") if isinstance(item, dict) else item
        value = value[0] if isinstance(value, list) and value else value
        if not isinstance(value, str) or "://" in value:
            continue
        for name in _names(" ".join(value.split()), sitename):
            if name.casefold() not in {n.casefold() for n in names}:
                names.append(name)
    return names


def _names(credit: str, sitename: str | None) -> list[str]:
    credit = _BYLINE_END.split(_LEAD.sub("", credit), maxsplit=1)[0]
    parts = [part for part in _SPLIT.split(credit) if part]
    parts = [_LEAD.sub("", part).strip(" .:-") for part in parts]
    parts = [part for part in parts if part and len(part.split()) <= _MAX_NAME_WORDS]
    if not parts:
        return []
    site = (sitename or "").casefold()
    people = [
        part
        for index, part in enumerate(parts)
        if not (
            _ROLE.search(part)
            or _OUTLET.search(part)
            or _CREDENTIAL.fullmatch(part)
            or (site and part.casefold() == site)
            or (index > 0 and len(part.split()) == 1)
        )
    ]
    return [_display(name) for name in people or parts[:1]]


def _display(name: str) -> str:
    """ "TOM KRISHER" -> "Tom Krisher"; names written in mixed case are kept as written."""
    return name.title() if name.isupper() and " " in name else name
