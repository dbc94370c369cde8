"""html -> Article: the clean body text and metadata of one fetched page.

trafilatura finds the body; this module removes what it still lets through on news pages
(teasers, reprint and newsletter boxes, share prompts, the repeated headline, bylines, credits)
and reads metadata where news pages publish it: JSON-LD (date, author), og: tags (title,
canonical URL, outlet), <html lang>.

    >>> article = extract(response.body, response.url)
    >>> article.title, article.published, article.text.split("\\n")[0]

`extract` is a pure function of (html, url), so it can run in a process-pool worker.
"""

from __future__ import annotations

import json
import logging
import re
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from courlan import extract_domain
from htmldate import find_date
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura import bare_extraction, html2txt
from trafilatura.metadata import examine_meta, extract_author
from trafilatura.utils import load_html

__all__ = ["Article", "extract", "is_html"]

LOGGER = logging.getLogger(__name__)


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


def extract(html: str | bytes, url: str) -> Article | None:
    """The article on the page, or None when the page has no article text.

    Never raises on bad input (garbage bytes, empty string, broken markup): such pages give None.
    """
    try:
        return _extract(html, url)
    except Exception:  # a page that breaks a parser is a page without an article
        LOGGER.warning("extraction failed url=%s", url, exc_info=True)
        return None


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


def _extract(html: str | bytes, url: str) -> Article | None:
    tree = load_html(html) if html and isinstance(html, (str, bytes)) else None
    if tree is None:
        return None
    meta = _Metadata(tree, url)
    text = _clean_text(_body(_pruned(tree), url), meta.headlines, url)
    if len(text) < _MIN_TEXT_LENGTH:  # a stray link or label, not an article
        return None
    return Article(
        url=url,
        canonical_url=meta.canonical_url(),
        title=meta.title,
        author=meta.author(),
        published=meta.published(),
        language=meta.language(),
        sitename=meta.sitename,
        text=text,
    )


_MIN_TEXT_LENGTH = 25
# the rule trafilatura applies to its own short extractions (core.ESCALATION_*)
_RETRY_MAX_LENGTH = 3000
_RETRY_PAGE_SHARE = 0.2
_RETRY_ACCEPT_RATIO = 1.5


def _body(tree: HtmlElement, url: str) -> str:
    """trafilatura's body text in precision mode, with its balanced mode as the safety net.

    Precision mode skips trafilatura's rescue of short extractions, so the same rule is applied
    here: a short result covering little of the page is retried in balanced mode and replaced
    when the retry is clearly longer.
    """
    precise = _trafilatura_text(tree, url, favor_precision=True)
    if len(precise) < _RETRY_MAX_LENGTH and len(precise) < _RETRY_PAGE_SHARE * len(html2txt(tree)):
        balanced = _trafilatura_text(tree, url, favor_precision=False)
        if len(balanced) > _RETRY_ACCEPT_RATIO * len(precise):
            return balanced
    return precise


def _trafilatura_text(tree: HtmlElement, url: str, *, favor_precision: bool) -> str:
    document = bare_extraction(
        tree, url=url, include_comments=False, favor_precision=favor_precision
    )
    return getattr(document, "text", None) or ""


# --- metadata -----------------------------------------------------------------------------------

_ARTICLE_TYPES = re.compile(r"\w*(?:article|posting|report)", re.IGNORECASE)
_TITLE_SEPARATOR = re.compile(r"(\s+[-|:/\u2013\u2014\u00b7\u2022\u00bb]\s+|\s*[|\u00bb]\s*)")
_EARLIEST_YEAR = 1990


class _Metadata:
    """What the page says about itself (the parsed tree is never modified)."""

    def __init__(self, tree: HtmlElement, url: str) -> None:
        self.tree, self.url = tree, url
        self.meta = _meta_tags(tree)
        self.ld = _json_ld_article(tree)
        publisher = self.ld["publisher"] if isinstance(self.ld.get("publisher"), dict) else {}
        sitename = self.meta.get("og:site_name") or publisher.get("name")
        sitename = _clean(sitename.lstrip("@")) if isinstance(sitename, str) else None
        self.sitename = None if sitename and "://" in sitename else sitename
        h1s = [h for h in (_clean(h1.text_content()) for h1 in tree.iter("h1")) if h]
        title_tag = _clean(tree.findtext(".//title"))
        raw_title = _clean(
            self.meta.get("og:title")
            or self.meta.get("twitter:title")
            or _first_text(self.ld.get("headline"))
            or (h1s[0] if len(h1s) == 1 else None)
            or title_tag
        )
        self.title = _strip_outlet(raw_title, self.sitename, url, h1s) if raw_title else None
        names = {raw_title, self.title, _first_text(self.ld.get("headline")), *h1s}
        if title_tag:
            names.update(_TITLE_SEPARATOR.split(title_tag)[::2])
        self.headlines = frozenset(_norm(name) for name in names if name and _norm(name))

    def author(self) -> str | None:
        """JSON-LD author, else <meta> author tags, else a byline found by trafilatura."""
        found = _authors(self.ld.get("author"))
        return found or _authors(examine_meta(self.tree).author or extract_author(self.tree))

    def published(self) -> str | None:
        """JSON-LD datePublished, else article:published_time, else htmldate's finding."""
        for value in (self.ld.get("datePublished"), self.meta.get("article:published_time")):
            if date := _iso_date(value):
                return date
        return _iso_date(find_date(self.tree, url=self.url, original_date=True))

    def language(self) -> str | None:
        """ISO 639-1 code from <html lang>, Content-Language or og:locale."""
        for value in (
            self.tree.get("lang"),
            self.tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
            self.meta.get("content-language"),
            self.meta.get("og:locale"),
        ):
            if match := re.match(r"\s*([A-Za-z]{2})(?:[-_]|\s*$)", value or ""):
                return match[1].lower()
        return None

    def canonical_url(self) -> str | None:
        """<link rel=canonical> or og:url, absolute against the page URL; None if absent."""
        links = (link for link in self.tree.iter("link") if link.get("href"))
        rels = {
            rel: link.get("href") for link in links for rel in link.get("rel", "").lower().split()
        }
        href = (rels.get("canonical") or self.meta.get("og:url") or "").strip()
        absolute = urljoin(self.url, href) if href else ""
        return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    """<meta> contents keyed by lower-cased property/name/http-equiv; the first one wins."""
    tags: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = element.get("property") or element.get("name") or element.get("http-equiv")
        content = element.get("content")
        if key and content and content.strip():
            tags.setdefault(key.strip().lower(), content.strip())
    return tags


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


def _authors(value: Any) -> str | None:
    """Names from an author value (a string, a Person, or a list of either), "; "-joined."""
    names: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        name = _clean(_first_text(item.get("name") if isinstance(item, dict) else item))
        for part in (name or "").split("; "):
            part = re.sub(r"^by\s+", "", part, flags=re.IGNORECASE).strip()
            if part and "://" not in part and part not in names:
                names.append(part)
    return "; ".join(names) or None


def _iso_date(value: Any) -> str | None:
    """An ISO 8601 date or datetime string, or None when the value is not a plausible date."""
    value = (_first_text(value) or "").strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.year < _EARLIEST_YEAR:
        return None
    return moment.date().isoformat() if len(value) <= 10 else moment.isoformat()


def _strip_outlet(title: str, sitename: str | None, url: str, h1s: list[str]) -> str:
    """ "Headline | Outlet" -> "Headline": drop leading and trailing parts naming the outlet."""
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) == 1:
        return title
    domain = extract_domain(url) or (urlsplit(url).hostname or "").removeprefix("www.")
    names = {_squash(name) for name in (sitename, domain, domain.split(".")[0]) if name}

    def is_outlet(part: str) -> bool:
        key = _squash(part)
        if not key or len(part.split()) > 6:
            return False
        return any(
            key == n or (len(n) >= 3 and n in key) or (len(key) >= 4 and key in n) for n in names
        )

    while len(parts) > 2 and is_outlet(parts[-1]):
        del parts[-2:]
    while len(parts) > 2 and is_outlet(parts[0]):
        del parts[:2]
    keys = {_norm(part) for part in parts[::2]}
    return next((h1 for h1 in h1s if len(parts) > 1 and _norm(h1) in keys), "".join(parts).strip())


def _first_text(value: Any) -> str | None:
    value = value[0] if isinstance(value, list) and value else value
    return value if isinstance(value, str) else None


def _clean(value: str | None) -> str | None:
    """Whitespace collapsed; None for an empty value."""
    return (" ".join(value.split()) or None) if value else None


def _norm(value: str) -> str:
    """A comparison key for lines and headlines: words only, case folded."""
    return " ".join(re.findall(r"\w+", value.casefold()))


def _squash(value: str) -> str:
    """A comparison key for outlet names: letters and digits only, case folded."""
    return "".join(re.findall(r"[^\W_]+", value.casefold()))


# --- body ---------------------------------------------------------------------------------------

_LABEL = (
    r"(?:read|see|watch|view) (?:more|also)|more(?! info)|also(?: read| on \S+)?|read also|related"
    r"(?: stories| articles?| coverage| content| posts?| links?)?|don'?t miss|you (?:may|might)"
    r" (?:also )?like|recommended(?: for you)?|most (?:read|popular|viewed)|trending(?: now)?"
    r"|leggi anche|lesen sie auch|lire aussi|veja também|leia também|lea también|ver también"
)
_TEASER_LABEL = re.compile(rf"(?:{_LABEL})\s*[:.…»>|-]*", re.IGNORECASE)
_TEASER_BLOCKS = ("p", "li", "div", "section", "aside", "a", "h2", "h3", "h4", "h5", "h6")
_JUNK_LINE = re.compile(
    "|".join(
        [
            rf"\[?(?:{_LABEL})\s*(?:[:.…»>|-]*|[:»>|]+(?:\s+\S+){{1,25}})\]?",
            r"(?:like this (?:story|article)\?\s*)?share (?:it|this(?: story| article)?) with"
            r" (?:a friend|your friends)[.!]*",
            r"(?:(?:order reprints?|today'?s paper|print(?: this)?(?: article| page)?|subscribe"
            r"|e-?mail|share|save|comments?|tweet)\s*[|·•/]?\s*)+",
            r"\d*\s*comments?|tell us what you think.*|leave a (?:comment|reply)",
            r"(?:buy|shop|order)(?: it)? (?:in|at|from) our (?:store|shop).*",
            r".*\b(?:download on|available on|get it on) (?:the app store|google play).*",
            r"(?:copyright|©)(?=.*(?:\d{4}|rights reserved)).{0,150}",
            r"this copy is for your personal, non-commercial use.*",
            r"(?=.*(?:\bsign(?:ing)? up|\bsubscrib))(?=.*(?:newsletter|inbox)).{0,300}",
        ]
    ),
    re.IGNORECASE,
)
_SCRIPT = re.compile(
    r"document\.\w+\s*[(.]|\.innerHTML\s*=|\bwindow\.\w+\s*=|\bfunction\s*\w*\s*\(|^(?:var|let"
    r"|const)\s+\w+\s*=|[=(){}].*;$|^[{}]"
)
_POPUPS = XPath(  # hover cards: a name in the text opens a box of links to other stories
    ".//*[re:test(@class, '(rollover|tooltip|popover|hovercard)[-_]?(block|content|card|box)')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)
_BULLET = re.compile(r"^[-•*·]\s+")
_SENTENCE_END = re.compile(r"\w{4,}[.!?]['\"\u201d]?$")
_DATELINE = re.compile(r"\b(?:19|20)\d\d\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_CREDITS = re.compile(
    r"\(?(?:additional )?(?:reporting|writing|editing) by .*|.*\bcontributed(?: to)?(?: this)?"
    r" report(?:ing)?\b.*|contributing: .*|(?:with )?(?:\w+ )?wires|(?:write|e-?mail|reach|contact)"
    r" (?:to )?.{0,60}\b(?:at|on|via) .*|follow (?:him|her|them|us|\w+(?: \w+)?) on .*"
    r"|(?:have a tip\?|tags?:|filed under:|source:).*|tags|\S+@\S+\.\w+|(?:https?://)?twitter\.com/\S+",
    re.IGNORECASE,
)


def _pruned(tree: HtmlElement) -> HtmlElement:
    """A copy without teaser blocks: "READ MORE: <a>..</a>", a "DON'T MISS" label with the links
    after it, hover cards, and lists made only of links (related articles, share buttons)."""
    tree = copy(tree)
    for element in list(tree.iter(*_TEASER_BLOCKS)):
        first = next((chunk for chunk in element.itertext() if chunk.strip()), "").strip()
        if not _TEASER_LABEL.fullmatch(first):
            continue
        text = element.text_content().strip()
        linked = sum(len(a.text_content()) for a in element.iter("a"))
        if len(text) > 600 or linked < 0.5 * (len(text) - len(first)):
            continue
        following = element.getnext()
        lone_label = text == first and following is not None
        if lone_label and following.tag in _TEASER_BLOCKS and _mostly_links(following, 0.6):
            following.drop_tree()
        element.drop_tree()
    for element in _POPUPS(tree):
        element.drop_tree()
    for listing in list(tree.iter("ul", "ol")):
        items = [item for item in listing if item.tag == "li"]
        if len(items) >= 2 and all(_mostly_links(item, 0.8) for item in items):
            listing.drop_tree()
    return tree


def _mostly_links(element: HtmlElement, share: float) -> bool:
    text = "".join(element.text_content().split())
    linked = "".join("".join(a.text_content().split()) for a in element.iter("a"))
    return bool(text) and len(linked) >= share * len(text)


def _clean_text(body: str, headlines: frozenset[str], url: str) -> str:
    """The body without the repeated headline, a dateline or byline above the text, credits and
    contact lines below it, and junk lines (teasers, share prompts, sign-ups, stray script)."""
    lines = [line for line in (" ".join(raw.split()) for raw in body.split("\n")) if line]
    while lines and _norm(lines[0]) in headlines:
        del lines[0]
    for _ in range(2):
        if lines and _is_dateline(lines[0]):
            del lines[0]
    while lines and len(lines[-1]) < 250 and _CREDITS.fullmatch(lines[-1]):
        del lines[-1]
    return "\n".join(line for line in lines if not _is_junk(_BULLET.sub("", line), url))


def _is_dateline(line: str) -> bool:
    """A short line with a date or time that does not end like a sentence: a byline or dateline."""
    return len(line) < 80 and bool(_DATELINE.search(line)) and not _SENTENCE_END.search(line)


def _is_junk(line: str, url: str) -> bool:
    return line == url or bool(_SCRIPT.search(line) or _JUNK_LINE.fullmatch(line))
