"""OPML feed lists: read the file a feed reader exports, write one it can import.

A feed's tags are the folders it sits in (nested outlines, outermost first) followed by the parts
of its `category` attribute (OPML 2.0: comma-separated, slash-delimited paths)::

    for feed in read_opml(Path("subscriptions.opml").read_bytes()):
        print(feed.url, feed.title, feed.tags)      # ... 'Courier World' ['News', 'World']
    Path("feeds.opml").write_bytes(write_opml(feeds, "crawler feeds"))

`write_opml` writes tags as nested folder outlines, the structure `read_opml` reads them from, so
`read_opml(write_opml(feeds))` gives the same urls, titles and tags back. The parser never
touches the network and refuses documents that declare entities (entity-expansion bombs,
external entities): a feed list needs neither.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from crawler.config import FeedSource
from crawler.dedup import normalize_url
from crawler.errors import CrawlerError

# A feed list, however long, is not this large; a larger file is a mistake or an attack.
MAX_OPML_SIZE = 20 * 1000**2

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

# Characters XML 1.0 cannot carry (control characters other than tab and newlines, surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class OpmlError(CrawlerError):
    """A file that is not a usable OPML feed list."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None = None
    tags: list[str] = field(default_factory=list)

    def as_source(self) -> FeedSource:
        """The settings entry for this feed."""
        return FeedSource(url=self.url, name=self.title, tags=self.tags)


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order, each once (by normalised URL).

    A feed listed twice (some readers export a feed once per folder) keeps its first title and
    gets the tags of every listing. `feed://` URLs become http(s); outlines whose URL is not
    http(s) are left out. Raises `OpmlError` for a document that is not OPML.
    """
    if len(data) > MAX_OPML_SIZE:
        raise OpmlError(f"not read: larger than {MAX_OPML_SIZE // 1000**2} MB")
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"not valid XML: {exc}") from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise OpmlError("refused: the document declares XML entities")
    if _local(root) != "opml":
        raise OpmlError(f"not an OPML file: the document is <{_local(root)}>")
    body = next((child for child in root if _local(child) == "body"), None)
    if body is None:
        raise OpmlError("not an OPML file: no <body>")
    feeds: dict[str, OpmlFeed] = {}
    for feed in _walk(body, []):
        key = normalize_url(feed.url)
        known = feeds.get(key)
        if known is None:
            feeds[key] = feed
        else:
            feeds[key] = OpmlFeed(known.url, known.title, _unique([*known.tags, *feed.tags]))
    return list(feeds.values())


def write_opml(feeds: Iterable[OpmlFeed], title: str) -> bytes:
    """An OPML 2.0 document listing `feeds`, each inside nested folder outlines for its tags."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_text(title)
    etree.SubElement(head, "dateCreated").text = email.utils.format_datetime(datetime.now(UTC))
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in feeds:
        parent = _folder(folders, tuple(feed.tags))
        name = _xml_text(feed.title or feed.url)
        url = _xml_text(feed.url)
        etree.SubElement(parent, "outline", type="rss", text=name, title=name, xmlUrl=url)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _walk(outline: Any, path: list[str]) -> Iterable[OpmlFeed]:
    for child in outline:
        if _local(child) != "outline":
            continue
        attributes = {str(key).lower(): str(value) for key, value in child.attrib.items()}
        name = _clean(attributes.get("text")) or _clean(attributes.get("title"))
        url = attributes.get("xmlurl")
        if url is None and attributes.get("type", "").lower() in ("rss", "atom"):
            url = attributes.get("url")  # some older readers
        if url is None:  # a folder
            yield from _walk(child, [*path, name] if name else path)
            continue
        url = _http_url(url)
        if url is None:
            continue
        tags = _unique([*path, *_categories(attributes.get("category", ""))])
        yield OpmlFeed(url, None if name == url else name, tags)


def _folder(folders: dict[tuple[str, ...], Any], tags: tuple[str, ...]) -> Any:
    if tags not in folders:
        parent = _folder(folders, tags[:-1])
        name = _xml_text(tags[-1])
        folders[tags] = etree.SubElement(parent, "outline", text=name, title=name)
    return folders[tags]


def _categories(value: str) -> list[str]:
    """OPML 2.0 `category`: "/Boston/Weather,Travel" -> ["Boston", "Weather", "Travel"]."""
    return [part for path in value.split(",") for part in map(_clean, path.split("/")) if part]


def _http_url(value: str) -> str | None:
    url = value.strip()
    if url.lower().startswith("feed:"):  # feed://host/path, feed:https://host/path
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _clean(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return text or None


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _local(element: Any) -> str:
    return etree.QName(element).localname.lower() if isinstance(element.tag, str) else ""
