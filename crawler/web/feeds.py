"""Atom feeds out: all items (`/items.atom`) and one topic's (`/topics/NAME.atom`).

Each entry carries the clean article text. Answers are conditional: an ETag made from the ids
of the entries listed and Last-Modified from the newest one, so a feed reader that polls an
unchanged feed gets a 304 without a body.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from ulid import ULID

from crawler.web.render import is_web_url

ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50
MEDIA_TYPE = "application/atom+xml; charset=utf-8"


def entry_id(item_id: str) -> str:
    """A stable Atom id for an item: its ULID as a UUID URN."""
    try:
        return ULID.from_str(item_id).to_uuid().urn
    except ValueError:
        return f"urn:crawler:item:{item_id}"


def feed_response(
    request: Request, *, title: str, feed_key: str, items: list[dict[str, Any]]
) -> Response:
    """The Atom document for `items` (newest first, each with its archived `record`), or a 304
    when the reader's If-None-Match / If-Modified-Since say it has this version."""
    digest = hashlib.sha256(feed_key.encode())
    for item in items:
        digest.update(item["id"].encode())
    etag = f'"{digest.hexdigest()[:32]}"'
    updated = datetime.fromtimestamp(items[0]["queued_at"] if items else 0, UTC).replace(
        microsecond=0
    )
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(updated, usegmt=True),
        "Cache-Control": "no-cache",
    }
    if _not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    body = _document(str(request.url.remove_query_params("token")), title, feed_key, updated, items)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


def _not_modified(request: Request, etag: str, updated: datetime) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return updated <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _document(
    self_url: str, title: str, feed_key: str, updated: datetime, items: list[dict[str, Any]]
) -> bytes:
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = _xml_text(text)
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"urn:crawler:feed:{hashlib.sha256(feed_key.encode()).hexdigest()[:32]}")
    sub(feed, "title", title)
    sub(feed, "updated", updated.isoformat())
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    sub(feed, "generator", "crawler")
    for item in items:
        record = item.get("record") or {}
        entry = sub(feed, "entry")
        sub(entry, "id", entry_id(item["id"]))
        sub(entry, "title", item.get("title") or record.get("title") or item["url"])
        queued = datetime.fromtimestamp(item["queued_at"], UTC).replace(microsecond=0)
        sub(entry, "updated", queued.isoformat())
        if item.get("published"):
            published = _date(item["published"])
            if published is not None:
                sub(entry, "published", published.isoformat())
        if is_web_url(item["url"]):
            sub(entry, "link", rel="alternate", href=item["url"], type="text/html")
        author = sub(entry, "author")
        sub(author, "name", record.get("author") or item.get("source_name") or "unknown")
        if item.get("source_name"):
            source = sub(entry, "source")
            sub(source, "title", item["source_name"])
        for topic in item.get("topics", []):
            sub(entry, "category", term=topic)
        if record.get("summary"):
            sub(entry, "summary", record["summary"], type="text")
        if record.get("text"):
            sub(entry, "content", record["text"], type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        feed, encoding="utf-8", xml_declaration=False
    )


def _date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (control characters)."""
    return "".join(c for c in text if c in "\t\n\r" or (ord(c) >= 0x20 and c not in "\ufffe\uffff"))
