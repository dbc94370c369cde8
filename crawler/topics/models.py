"""The records topic matching takes and gives: a document, a topic, a match."""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int]  # [start, end) character offsets


@dataclass(frozen=True, slots=True)
class Document:
    """What a query is matched against.

    `source` is the outlet's name and/or host ("Caspian Courier caspian-courier.example"),
    `lang` an ISO 639-1 code ("en", "pt-BR" is read as "pt").
    """

    title: str = ""
    text: str = ""
    url: str = ""
    source: str = ""
    author: str = ""
    lang: str = ""


@dataclass(frozen=True, slots=True)
class Topic:
    """The query side of one ``[[topics]]`` settings entry.

    `stem` matches words by their Snowball stem in the article's language ("sanctions" finds
    "sanctioned"); `min_count` makes a term count only when it occurs that many times.
    """

    name: str
    query: str
    stem: bool = False
    min_count: int = 1


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """A topic that matched a document.

    `terms` maps each query term found (as written in the query, ``title:`` prefix included) to
    its number of occurrences; `snippet` is about 200 characters of the text (or the title)
    around the densest cluster of those terms, with "…" where it was cut.

    `spans` holds, per field ("title", "text"), where the matched terms are in the field as
    written; `highlights` where they are in `snippet`. Both are sorted [start, end) character
    offsets without overlaps: what a reader highlights, so nothing has to find the terms again.
    """

    name: str
    terms: dict[str, int]
    snippet: str
    spans: dict[str, tuple[Span, ...]] = field(default_factory=dict)
    highlights: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Snippet:
    """A snippet and where the matched terms are in it."""

    text: str
    highlights: tuple[Span, ...] = ()
