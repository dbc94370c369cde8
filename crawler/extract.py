"""html -> Article: the clean body text and metadata of one fetched page.

The page is parsed once; every step reads that one tree: the metadata (crawler/metadata.py:
headline, date and its source, authors), then this module's pruning of teaser blocks, done in
place, then trafilatura, which finds the body on its own copy. This module then removes what
trafilatura still lets through on news pages (the repeated headline, bylines, credits, share
prompts, reprint and newsletter boxes).

    >>> article = extract(response.body, response.url)
    >>> article.title, article.published, article.text.split("\\n")[0]

`extract` is a pure function of (html, url), so it can run in a process-pool worker.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lxml.etree import XPath, strip_elements
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.utils import load_html

from crawler.article import Article, is_html
from crawler.metadata import read_metadata, words_key

__all__ = ["Article", "extract", "is_html"]

LOGGER = logging.getLogger(__name__)


def extract(html: str | bytes, url: str) -> Article | None:
    """The article on the page, or None when the page has no article text.

    Never raises on bad input (garbage bytes, empty string, broken markup): such pages give None.
    """
    try:
        return _extract(html, url)
    except Exception:  # a page that breaks a parser is a page without an article
        LOGGER.warning("extraction failed url=%s", url, exc_info=True)
        return None


def _extract(html: str | bytes, url: str) -> Article | None:
    if not html or not isinstance(html, (str, bytes)):
        return None
    tree = load_html(_xml_safe(html))
    if tree is None:
        return None
    meta = read_metadata(tree, url)  # before pruning, which changes the tree
    _prune(tree)
    text = _clean_text(_body(tree, url), meta.headlines, url)
    if len(text) < _MIN_TEXT_LENGTH:  # a stray link or label, not an article
        return None
    return Article(
        url=url,
        canonical_url=meta.canonical_url,
        title=meta.title,
        author=meta.author,
        published=meta.published,
        language=meta.language,
        sitename=meta.sitename,
        text=text,
        published_source=meta.published_source,
    )


_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")
_CHARACTER_REFERENCE_BYTES = re.compile(_CHARACTER_REFERENCE.pattern.encode())


def _xml_safe(html: str | bytes) -> str | bytes:
    """The page without character references to what XML cannot hold (control characters other
    than tab and newlines, U+FFFE, U+FFFF, surrogates): lxml would decode them into the tree and
    trafilatura's XML steps would then refuse the page. A vertical tab or form feed becomes a
    space; the others are dropped."""

    def replace(match: re.Match[Any]) -> Any:
        hexadecimal, decimal = match.groups()
        code = int(hexadecimal, 16) if hexadecimal else int(decimal)
        if _xml_char(code):
            return match[0]
        space = code in (0x0B, 0x0C)
        return (" " if space else "") if isinstance(match[0], str) else (b" " if space else b"")

    pattern = _CHARACTER_REFERENCE if isinstance(html, str) else _CHARACTER_REFERENCE_BYTES
    return pattern.sub(replace, html)  # type: ignore[arg-type]


def _xml_char(code: int) -> bool:
    """True for a code point XML 1.0 allows (NUL is left to lxml, which drops it)."""
    return (
        code in (0x0, 0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


_MIN_TEXT_LENGTH = 25
# the rule trafilatura applies to its own short extractions (core.ESCALATION_*)
_RETRY_MAX_LENGTH = 3000
_RETRY_PAGE_SHARE = 0.2
_RETRY_ACCEPT_RATIO = 1.5


def _body(tree: HtmlElement, url: str) -> str:
    """trafilatura's body text in precision mode, escalated only when the result looks short.

    The first run skips trafilatura's comparison with its fallback extractors (`fast`), the
    costliest part of an extraction, which changes the result on few pages. A short result
    covering little of the page (trafilatura's own rule for its short extractions) is run
    again with the comparison, then, if still short, in balanced mode, whose result replaces
    it when clearly longer.
    """
    page_length: int | None = None  # trafilatura's measure of the page, taken once if needed

    def short(text: str) -> bool:
        nonlocal page_length
        if len(text) >= _RETRY_MAX_LENGTH:
            return False
        if page_length is None:
            page_length = _page_length(tree)
        return len(text) < _RETRY_PAGE_SHARE * page_length

    text = _trafilatura_text(tree, url, favor_precision=True, fast=True)
    if not short(text):
        return text
    text = _trafilatura_text(tree, url, favor_precision=True, fast=False)
    if not short(text):
        return text
    balanced = _trafilatura_text(tree, url, favor_precision=False, fast=False)
    return balanced if len(balanced) > _RETRY_ACCEPT_RATIO * len(text) else text


def _page_length(tree: HtmlElement) -> int:
    """The length of the page's text without asides and footers, as trafilatura measures a page
    for its rule (`html2txt`), but read without copying the tree."""
    body = tree.find("body")
    body = tree if body is None else body
    extras = set(_PAGE_EXTRAS(body))
    outermost = [e for e in extras if not any(a in extras for a in e.iterancestors())]
    return _text_length(body) - sum(_text_length(element) for element in outermost)


def _text_length(element: HtmlElement) -> int:
    return len(" ".join(element.text_content().split()))


def _trafilatura_text(tree: HtmlElement, url: str, *, favor_precision: bool, fast: bool) -> str:
    document = bare_extraction(
        tree, url=url, include_comments=False, favor_precision=favor_precision, fast=fast
    )
    return getattr(document, "text", None) or ""


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
_POPUP_WORDS = ("rollover", "tooltip", "popover", "hovercard")
_POPUP_CLASS = re.compile(rf"(?:{'|'.join(_POPUP_WORDS)})[-_]?(?:block|content|card|box)")
_POPUPS = XPath(  # hover cards: a name in the text opens a box of links to other stories
    "//*[" + " or ".join(f"contains(@class, '{word}')" for word in _POPUP_WORDS) + "]"
)
_SHORT_TEXTS = XPath("//text()[string-length(.) < 80][normalize-space(.)]")
# never article text; trafilatura drops them from each of its copies too
_UNREAD = ("script", "style", "svg", "template", "iframe", "embed", "object", "canvas", "button")
_PAGE_EXTRAS = XPath(
    ".//aside | .//footer | .//div[contains(@class, 'footer') or contains(@id, 'footer')]"
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


def _prune(tree: HtmlElement) -> None:
    """Remove teaser blocks: "READ MORE: <a>..</a>", a "DON'T MISS" label with the links after
    it, hover cards, and lists made only of links (related articles, share buttons); and
    scripts, styles and drawings, so that each copy trafilatura makes is smaller."""
    strip_elements(tree, *_UNREAD, with_tail=False)
    for element in _teaser_labelled(tree):
        if not _attached(element, tree):  # inside a block removed already
            continue
        first = next(chunk for chunk in element.itertext() if chunk.strip()).strip()
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
        if _POPUP_CLASS.search(element.get("class", "")) and _attached(element, tree):
            element.drop_tree()
    for listing in list(tree.iter("ul", "ol")):
        items = [item for item in listing if item.tag == "li"]
        if len(items) >= 2 and all(_mostly_links(item, 0.8) for item in items):
            listing.drop_tree()


def _teaser_labelled(tree: HtmlElement) -> list[HtmlElement]:
    """The teaser-sized blocks whose first text is a teaser label ("READ MORE:", "Related"),
    outermost first: found from the page's short texts, not by reading every block."""
    found: dict[HtmlElement, None] = {}
    for chunk in _SHORT_TEXTS(tree):
        if not _TEASER_LABEL.fullmatch(chunk.strip()) or chunk.getparent() is None:
            continue
        owner = chunk.getparent().getparent() if chunk.is_tail else chunk.getparent()
        chain = []
        for element in (owner, *owner.iterancestors()) if owner is not None else ():
            first = next((text for text in element.itertext() if text.strip()), "")
            if not _TEASER_LABEL.fullmatch(first.strip()):
                break  # an ancestor that starts with other text, and all above it
            if element.tag in _TEASER_BLOCKS:
                chain.append(element)
        found.update(dict.fromkeys(reversed(chain)))
    return list(found)


def _attached(element: HtmlElement, tree: HtmlElement) -> bool:
    return element is tree or any(parent is tree for parent in element.iterancestors())


def _mostly_links(element: HtmlElement, share: float) -> bool:
    text = "".join(element.text_content().split())
    linked = "".join("".join(a.text_content().split()) for a in element.iter("a"))
    return bool(text) and len(linked) >= share * len(text)


def _clean_text(body: str, headlines: frozenset[str], url: str) -> str:
    """The body without the repeated headline, a dateline or byline above the text, credits and
    contact lines below it, and junk lines (teasers, share prompts, sign-ups, stray script)."""
    lines = [line for line in (" ".join(raw.split()) for raw in body.split("\n")) if line]
    while lines and words_key(lines[0]) in headlines:
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
