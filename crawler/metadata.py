"""What a page says about itself: its headline, date of publication (and where it is stated),
authors, language, canonical URL and outlet, read from one parsed tree that is never modified.

    >>> meta = read_metadata(tree, url)
    >>> meta.title, meta.published, meta.published_source, meta.author

The headline is the one the page displays: the `<h1>` (or headline element) that the page's
own metadata (og:title, twitter:title, JSON-LD headline, <title>) confirms, so neither the
outlet glued onto <title> nor an SEO variant in og:title reaches the item. The date keeps its
source (`PublishedSource`): only a date stated as the date of publication and precise to the day
comes from "json-ld", "meta" or "time"; a date read from the URL is "url", one found in the
text by htmldate is "text" (see `crawler.items.Page.dated`).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

from courlan import extract_domain
from dateutil.parser import ParserError, UnknownTimezoneWarning
from dateutil.parser import parse as parse_date
from htmldate import find_date
from lxml.etree import XPath
from lxml.html import HtmlElement

from crawler.article import PublishedSource
from crawler.authors import author_names

__all__ = ["Metadata", "day_precise", "read_metadata", "words_key"]


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str | None
    headlines: frozenset[str]  # comparison keys of every headline variant (for body cleaning)
    author: str | None  # "; "-joined names
    published: str | None  # ISO 8601 date or datetime
    published_source: PublishedSource | None
    language: str | None
    canonical_url: str | None
    sitename: str | None


def read_metadata(tree: HtmlElement, url: str) -> Metadata:
    meta = _meta_tags(tree)
    ld = _json_ld_article(tree)
    publisher = ld["publisher"] if isinstance(ld.get("publisher"), dict) else {}
    sitename = meta.get("og:site_name") or publisher.get("name")
    sitename = _clean(sitename.lstrip("@")) if isinstance(sitename, str) else None
    sitename = None if sitename and "://" in sitename else sitename
    title, headlines = _headline(tree, meta, ld, sitename, url)
    published, source = _published(tree, meta, ld, url)
    return Metadata(
        title=title,
        headlines=headlines,
        author=_author(tree, meta, ld, sitename),
        published=published,
        published_source=source,
        language=_language(tree, meta),
        canonical_url=_canonical_url(tree, meta, url),
        sitename=sitename,
    )


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    """<meta> contents keyed by lower-cased property/name/itemprop/http-equiv; the first wins."""
    tags: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (
            element.get("property")
            or element.get("name")
            or element.get("itemprop")
            or element.get("http-equiv")
        )
        content = element.get("content")
        if key and content and content.strip():
            tags.setdefault(key.strip().lower(), content.strip())
    return tags


_ARTICLE_TYPES = re.compile(r"\w*(?:article|posting|report)", re.IGNORECASE)


def _json_ld_article(tree: HtmlElement) -> dict[str, Any]:
    """The first schema.org article object in the page's JSON-LD blocks, or {}."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            stack = [json.loads(script.text, strict=False)]
        except ValueError:
            continue
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                types = item.get("@type")
                for kind in types if isinstance(types, list) else [types]:
                    if isinstance(kind, str) and _ARTICLE_TYPES.fullmatch(kind):
                        return item
                stack.extend(item[key] for key in ("@graph", "mainEntity") if key in item)
    return {}


# --- headline -----------------------------------------------------------------------------------

# " - ", " | ", " : ", " / " and dashes with spaces; "|", "»" and the full-width bar and colon
_TITLE_SEPARATOR = re.compile(
    r"(\s+[-|:/\u2013\u2014\u00b7\u2022\u00bb]\s+|\s*[|\u00bb\uff5c\uff1a]\s*)"
)
_HEADLINE_ELEMENTS = XPath(
    "//h2 | //*[@itemprop='headline'][not(self::meta)]"
    " | //*[self::div or self::p or self::span][contains(@class, 'title')"
    " or contains(@class, 'headline')]"
)
_FUZZY_SHARE = 0.75  # of a headline's words found in one metadata title: the same headline
_FUZZY_MIN_WORDS = 3


def _headline(
    tree: HtmlElement, meta: dict[str, str], ld: dict[str, Any], sitename: str | None, url: str
) -> tuple[str | None, frozenset[str]]:
    """The headline as displayed, and the comparison keys of all its variants.

    The `<h1>`, else other headline element, whose words are those of a metadata title or of a
    part of one between separators (not the part naming the outlet), the one in the article
    before others and the longest before shorter ones (not a section label); failing that, the
    first one with most of its words in a metadata title; failing that, the first `<h1>` in the
    article; failing that, the metadata title without the outlet's name.
    """
    title_tag = _clean(tree.findtext(".//title"))
    stated = [
        _clean(value)
        for value in (
            meta.get("og:title"),
            meta.get("twitter:title"),
            _first_text(ld.get("headline")),
            title_tag,
        )
    ]
    titles = [value for value in stated if value]
    is_outlet = _outlet_test(sitename, url)
    parts = [part for title in titles for part in _TITLE_SEPARATOR.split(title)[::2]]
    keys = {words_key(text) for text in [*titles, *parts] if not is_outlet(text)}
    keys.discard("")
    words = [set(words_key(title).split()) for title in titles]

    @cache
    def h1s() -> list[tuple[HtmlElement, str]]:
        return [(h1, text) for h1 in tree.iter("h1") if (text := _clean(h1.text_content()))]

    @cache
    def others() -> list[tuple[HtmlElement, str]]:  # read only when no <h1> will do
        return [(e, text) for e in _HEADLINE_ELEMENTS(tree) if (text := _clean(e.text_content()))]

    def confirmed(text: str) -> bool:
        return words_key(text) in keys

    def similar(text: str) -> bool:
        mine = words_key(text).split()
        return len(mine) >= _FUZZY_MIN_WORDS and any(
            sum(word in title for word in mine) >= _FUZZY_SHARE * len(mine) for title in words
        )

    def displayed() -> str | None:
        for test in (confirmed, similar):
            for candidates in (h1s, others):
                found = [(element, text) for element, text in candidates() if test(text)]
                if found and test is confirmed:  # the one in the article, then the longest
                    return max(found, key=lambda f: (_in_article(f[0]), len(f[1])))[1]
                if found:
                    return found[0][1]
        return next((text for h1, text in h1s() if _in_article(h1)), None)

    title = displayed() or (_strip_outlet(titles[0], is_outlet) if titles else None)
    names = {*titles, title, *(text for _, text in h1s())}
    return title, frozenset(words_key(n) for n in names if n and words_key(n)) | keys


def _in_article(element: HtmlElement) -> bool:
    return any(parent.tag in ("article", "main") for parent in element.iterancestors())


def _outlet_test(sitename: str | None, url: str) -> Callable[[str], bool]:
    """A test of whether a part of a title names the outlet (its site name or domain)."""
    domain = extract_domain(url) or (urlsplit(url).hostname or "").removeprefix("www.")
    names = {_squash(name) for name in (sitename, domain, domain.split(".")[0]) if name}

    def is_outlet(part: str) -> bool:
        key = _squash(part)
        if not key or len(part.split()) > 6:
            return False
        return any(
            key == n or (len(n) >= 3 and n in key) or (len(key) >= 4 and key in n) for n in names
        )

    return is_outlet


def _strip_outlet(title: str, is_outlet: Callable[[str], bool]) -> str:
    """ "Headline | Outlet" -> "Headline": drop leading and trailing parts naming the outlet."""
    parts = _TITLE_SEPARATOR.split(title)
    while len(parts) > 2 and is_outlet(parts[-1]):
        del parts[-2:]
    while len(parts) > 2 and is_outlet(parts[0]):
        del parts[:2]
    return "".join(parts).strip()


# --- date ---------------------------------------------------------------------------------------

# <meta> names and properties that state the date of publication, in order of preference
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "article:published",
    "article.published",
    "datepublished",
    "og:datepublished",
    "published_time",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dcterms.created",
    "dcsext.articlefirstpublished",
    "publishdate",
    "publish-date",
    "publish_date",
    "pubdate",
    "published",
    "published_at",
    "dc.date",
    "date",
)
_TIME_PUBLISHED = XPath(
    "//article//time[@datetime] | //time[@datetime][@pubdate or @itemprop='datePublished'"
    " or contains(@class, 'publish')]"
)
_URL_DATE = re.compile(
    r"/((?:19|20)\d\d)[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?:/|[-_.]|$)"
)
_EARLIEST_YEAR = 1990


def _published(
    tree: HtmlElement, meta: dict[str, str], ld: dict[str, Any], url: str
) -> tuple[str | None, PublishedSource | None]:
    """The date of publication and where it is stated: JSON-LD datePublished, a publication
    <meta>, a <time datetime> in the article (each only when precise to the day), the URL's
    /YYYY/MM/DD/, else a date htmldate finds in the date elements of the text (its quick search:
    no guess from a year alone).

    Of the stated dates, the first; but when the page also states the same moment in its own
    time zone (a date alone, or a time with a UTC offset other than zero), that one: its day
    is the day the page shows, where a UTC time late in the evening is already the next day.
    """
    values: list[tuple[PublishedSource, Any]] = [("json-ld", ld.get("datePublished"))]
    values += [("meta", meta.get(key)) for key in _PUBLISHED_META]
    values += [("time", element.get("datetime")) for element in _TIME_PUBLISHED(tree)[:3]]
    stated = [(date, source) for source, value in values if (date := day_precise(value))]
    if stated:
        first = _moment(stated[0][0])
        local = (
            (date, source)
            for date, source in stated
            if _local(date) and abs((_moment(date) - first).total_seconds()) <= _SAME_MOMENT
        )
        return next(local, stated[0])
    if match := _URL_DATE.search(urlsplit(url).path):
        return "-".join(match.groups()), "url"
    if date := day_precise(find_date(tree, original_date=True, extensive_search=False)):
        return date, "text"
    return None, None


_SAME_MOMENT = 26 * 3600  # seconds: two statements of one publication, in any two time zones


def _moment(date: str) -> datetime:
    moment = datetime.fromisoformat(date)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(date: str) -> bool:
    """True for a date alone or a time with a UTC offset other than zero."""
    offset = datetime.fromisoformat(date).utcoffset()
    return len(date) == 10 or bool(offset)


def day_precise(value: Any) -> str | None:
    """An ISO 8601 date or datetime for a value that names a day (ISO 8601, RFC 2822 or written
    out, as in "November 19, 2019 7:47 PM"); None for a year or month alone or no date."""
    value = (_first_text(value) or "").strip()
    if not value or not re.search(r"\d", value):
        return None
    try:
        moment = datetime.fromisoformat(value)
        precise = len(value) >= 10
    except ValueError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownTimezoneWarning)
            try:  # a date part missing from the value comes from the default: try two
                moment = parse_date(value, default=datetime(1, 1, 1))
                precise = moment.date() == parse_date(value, default=datetime(2, 2, 2)).date()
            except (ParserError, ValueError, OverflowError):
                return None
    if not precise or moment.year < _EARLIEST_YEAR:
        return None
    return moment.date().isoformat() if len(value) <= 10 else moment.isoformat()


# --- authors, language, canonical URL -----------------------------------------------------------

_AUTHOR_META = (
    "author",
    "article:author",
    "byl",
    "dc.creator",
    "parsely-author",
    "sailthru.author",
    "author.name",
)
_BYLINE = XPath(
    "//*[@rel='author' or @itemprop='author'][not(self::meta or self::link)]"
    " | //*[contains(@class, 'byline')]"
)


def _author(
    tree: HtmlElement, meta: dict[str, str], ld: dict[str, Any], sitename: str | None
) -> str | None:
    """JSON-LD author, else an author <meta>, else the page's byline element."""
    stated = [ld.get("author"), *(meta.get(key) for key in _AUTHOR_META)]
    for credit in stated:
        if credit and (names := author_names(credit, sitename)):
            return "; ".join(names)
    for element in _BYLINE(tree)[:3]:  # the markup is searched only when nothing is stated
        if names := author_names(_clean(element.text_content()), sitename):
            return "; ".join(names)
    return None


def _language(tree: HtmlElement, meta: dict[str, str]) -> str | None:
    """ISO 639-1 code from <html lang>, Content-Language or og:locale."""
    for value in (
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        meta.get("content-language"),
        meta.get("og:locale"),
    ):
        if match := re.match(r"\s*([A-Za-z]{2})(?:[-_]|\s*$)", value or ""):
            return match[1].lower()
    return None


def _canonical_url(tree: HtmlElement, meta: dict[str, str], url: str) -> str | None:
    """<link rel=canonical> or og:url, absolute against the page URL; None if absent."""
    links = (link for link in tree.iter("link") if link.get("href"))
    rels = {rel: link.get("href") for link in links for rel in link.get("rel", "").lower().split()}
    href = (rels.get("canonical") or meta.get("og:url") or "").strip()
    absolute = urljoin(url, href) if href else ""
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _first_text(value: Any) -> str | None:
    value = value[0] if isinstance(value, list) and value else value
    return value if isinstance(value, str) else None


def _clean(value: str | None) -> str | None:
    """Whitespace collapsed; None for an empty value."""
    return (" ".join(value.split()) or None) if value else None


def words_key(value: str) -> str:
    """A comparison key for lines and headlines: words only, case folded."""
    return " ".join(re.findall(r"\w+", value.casefold()))


def _squash(value: str) -> str:
    """A comparison key for outlet names: letters and digits only, case folded."""
    return "".join(re.findall(r"[^\W_]+", value.casefold()))
