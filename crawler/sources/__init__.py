"""Sources: where articles come from (feeds, sites), each adapted into our own model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

SourceKind = Literal["feed", "sitemap", "site"]


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The source an article came through, as the item schema's `source` field shows it."""

    kind: SourceKind
    url: str
    name: str | None = None
    id: int | None = None  # row id in the state database

    @property
    def display_name(self) -> str:
        return self.name or urlsplit(self.url).hostname or self.url

    def as_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "url": self.url, "name": self.display_name}
