"""The alert as a chat message: Markdown where the service renders it, plain text elsewhere.

Per item: the title (a link to the article), the outlet and time, the snippet with the matched
terms emphasised (from the matcher's spans), and the outlets that also reported it. A digest is
one message with at most `max_items` items and a line saying how many more there were::

    title, body = chat_message("caspian-arms", items, markdown=True, limit=4000, max_items=20)

Article text can inject nothing. In Markdown every markup character of it is escaped (Apprise
turns the escapes into each service's own form, e.g. ``&lt;`` for Slack); everywhere, an ``@``
is followed by a word joiner (U+2060), so ``@channel``, ``@everyone`` and ``@here`` are no
mentions, and so are ``://``, ``www.`` and the dot of a domain name, so no client makes a link of
text. The only links are the article's own and the "also reported" ones, and only when they are
plain http(s) URLs. Too long a message is shortened by shortening the snippets (before they are
rendered, so no markup is ever cut in half), then by leaving items out of the message and
counting them in the last line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from crawler.alerts.message import TITLE_LIMIT, AlertItem, one_line, view

WORD_JOINER = "\u2060"
SNIPPET_WIDTHS = (1000, 400, 200, 100, 0)  # snippet lengths tried, longest first; 0: none
# Services whose messages are read as Markdown (Apprise's scheme names).
MARKDOWN_SCHEMES = frozenset(
    {"slack", "tgram", "matrix", "matrixs", "discord", "mmost", "mmosts", "rocket", "rockets"}
)
_MARKUP = re.compile(r"([\\`*_\[\]()<>~])")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z]{2,})")


def uses_markdown(url: str) -> bool:
    """Does the service of this Apprise URL show Markdown?"""
    return url.split("://", 1)[0].lower() in MARKDOWN_SCHEMES


def defuse(text: str, markdown: bool) -> str:
    """Untrusted `text` that can neither mention, nor link, nor (in Markdown) format."""
    text = text.replace("@", "@" + WORD_JOINER).replace("://", ":" + WORD_JOINER + "//")
    text = re.sub(r"(?i)www\.", lambda m: m.group()[:3] + WORD_JOINER + ".", text)
    text = _DOMAIN_DOT.sub("." + WORD_JOINER, text)
    text = text.replace("<", "<" + WORD_JOINER)  # no <!everyone>, <@U123> or <url|label>
    return _MARKUP.sub(r"\\\1", text) if markdown else text


def chat_message(
    topic: str,
    items: Sequence[AlertItem],
    *,
    markdown: bool,
    limit: int,
    max_items: int,
    title_limit: int = TITLE_LIMIT,
) -> tuple[str, str]:
    """(title, body) of one chat message about `items` of `topic`: at most `max_items` items,
    the body at most `limit` characters. Raises ValueError for no items."""
    if not items:
        raise ValueError("an alert needs at least one item")
    topic_text = one_line(topic, 80) or "topic"
    if len(items) == 1:
        title = f"{topic_text}: {one_line(items[0].title) or '1 new article'}"
    else:
        title = f"{topic_text}: {len(items)} new articles"
    title = defuse(one_line(title, title_limit), markdown) if title_limit else ""
    most = min(len(items), max_items)
    body = ""
    for widths in (SNIPPET_WIDTHS[:-1], SNIPPET_WIDTHS[-1:]):  # with snippets, else without
        for shown in range(most, 0, -1):
            for width in widths:
                body = _body(items[:shown], len(items) - shown, markdown, width)
                if len(body) <= limit:
                    return title, body
    return title, body[:limit]  # one item without a snippet: only a huge title gets here


def _body(items: Sequence[AlertItem], more: int, markdown: bool, width: int) -> str:
    blocks = [_item(view(item, max(width, 1)), markdown, width > 0) for item in items]
    if more:
        blocks.append(f"… and {more} more matching article{'s' if more > 1 else ''}.")
    return "\n\n".join(blocks)


def _item(data: dict[str, Any], markdown: bool, with_snippet: bool) -> str:
    title = defuse(one_line(data["title"], TITLE_LIMIT * 2), markdown)
    href = data["href"]
    lines = []
    if markdown:
        lines.append(f"**[{title}]({_target(href)})**" if href else f"**{title}**")
    else:
        lines.append(title)
        if href:
            lines.append(href)
    about = " · ".join(defuse(x, markdown) for x in (data["source"], data["published"]) if x)
    if about:
        lines.append(f"_{about}_" if markdown else about)
    if with_snippet and data["snippet"]:
        lines.append("".join(_run(piece, hit, markdown) for piece, hit in data["runs"]))
    also = [(defuse(name, markdown), url) for name, url in data["also"]]
    if also:
        if markdown:
            names = ", ".join(f"[{name}]({_target(url)})" if url else name for name, url in also)
        else:
            names = ", ".join(f"{name} ({url})" if url else name for name, url in also)
        lines.append(f"Also reported by: {names}")
    return "\n".join(lines)


def _run(piece: str, hit: bool, markdown: bool) -> str:
    text = defuse(piece, markdown)
    if not hit or not text.strip():
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    core = text.strip()
    return f"{lead}**{core}**{trail}" if markdown else f"{lead}*{core}*{trail}"


def _target(url: str) -> str:
    """A link target that cannot end the Markdown link early."""
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
