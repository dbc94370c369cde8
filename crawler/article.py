"""What extraction makes of a page (`Article`), and which responses can hold one (`is_html`).

The crawler process hands pages to worker processes and gets an `Article` back; it needs this
module, never crawler/extract.py itself, so trafilatura, htmldate and the rest of extraction
load only in the workers (crawler/workers.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Article", "PublishedSource", "is_html"]

PublishedSource = Literal["feed", "json-ld", "meta", "time", "url", "text"]
"""Where an article's `published` date was stated (crawler/metadata.py reads it)."""


@dataclass(frozen=True, slots=True)
class Article:
    """The article found on a page: metadata plus the body, paragraphs separated by "\\n"."""

    url: str
    canonical_url: str | None
    title: str | None
    author: str | None
    published: str | None
    language: str | None
    sitename: str | None
    text: str
    published_source: PublishedSource | None = None  # where `published` is stated


_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain")
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b")
_MARKUP_START = re.compile(rb"\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype html|html|head|body|!--)", re.I)


def is_html(content_type: str | None, body: bytes) -> bool:
    """True when a response looks like HTML: an HTML Content-Type, or with a missing or generic
    type, a body that starts like markup. PDF, images and other binaries are never HTML."""
    head = body[:1024].removeprefix(b"\xef\xbb\xbf")
    if head.lstrip().startswith(_BINARY_MAGIC):
        return False
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in ("text/html", "application/xhtml+xml"):
        return True
    return media_type in _GENERIC_TYPES and bool(_MARKUP_START.match(head))
