"""The alert email: one multipart/alternative message (plain text first, then HTML) per send.

Both parts carry the same content for every item: title, link, outlet, published time, snippet
with the matched terms highlighted, and the outlets that also reported it. A digest is one
message with every item inline. Article data never reaches a header unsanitized: header text is
decoded, collapsed to one line and capped, so no title can add a header::

    message = build_message(topic="caspian-arms", items=items, sender="crawler@example.org",
                            recipients=["desk@example.org"], digest=True)
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from crawler.topics.snippet import runs
from crawler.topics.text import fold

TITLE_LIMIT = 150
TOPIC_LIMIT = 80
SNIPPET_LIMIT = 1000
_WHITESPACE = re.compile(r"\s+")
_ENV = Environment(
    loader=PackageLoader("crawler.alerts", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One article in an alert, as the outbox hands it over."""

    item_id: str
    title: str
    url: str
    source_name: str  # the outlet
    published: datetime | None  # aware, UTC
    snippet: str  # plain text
    terms: Sequence[str] = ()  # the query terms that matched, as written in the query
    also_reported: Sequence[tuple[str, str]] = field(default=())  # (outlet, url) of near-duplicates
    highlights: Sequence[tuple[int, int]] = ()  # where the matched terms are in `snippet`


def one_line(text: str, limit: int | None = None) -> str:
    """`text` with every control, format and separator character and every run of whitespace
    collapsed to one space, stripped, and cut to `limit` characters with an ellipsis."""
    spaced = "".join(
        " " if unicodedata.category(char)[0] in "CZ" else char
        for char in unicodedata.normalize("NFC", text)
    )
    result = _WHITESPACE.sub(" ", spaced).strip()
    if limit is not None and len(result) > limit:
        result = result[: limit - 1].rstrip() + "…"
    return result


def header_text(text: str, limit: int) -> str:
    """Single-line header text from untrusted data.

    RFC 2047 encoded words are decoded first (the email package would decode them on assignment,
    newlines included), then everything is collapsed to one line; any `=?` left is broken up so
    nothing in the value can be read as an encoded word again."""
    for _ in range(4):
        decoded = str(policy.default.header_factory("X-Decode", one_line(text)))
        if decoded == text:
            break
        text = decoded
    return one_line(text, limit).replace("=?", "= ?")


def link(url: str) -> str | None:
    """`url` if it is a plain http(s) URL with a host, else None (so it is never made a link)."""
    url = url.strip()
    if not url or any(unicodedata.category(char)[0] in "CZ" for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or '"' in url:
        return None
    return url


def snippet_runs(
    snippet: str, highlights: Sequence[tuple[int, int]], limit: int = SNIPPET_LIMIT
) -> list[tuple[str, bool]]:
    """`snippet` cleaned as :func:`one_line` cleans text and cut to `limit` characters, split
    into (piece, is_match) runs at `highlights`: the matcher's own spans in `snippet` (see
    `crawler.topics.TopicMatch`), so what is highlighted is exactly what matched."""
    kept: list[str] = []
    where: list[int] = []  # for each character of `snippet`, its index in `kept`
    space = False
    for char in snippet:
        if unicodedata.category(char)[0] in "CZ":
            space = bool(kept)
            where.append(len(kept))
            continue
        if space:
            kept.append(" ")
            space = False
        where.append(len(kept))
        kept.append(char)
    where.append(len(kept))
    text = "".join(kept)
    spans = [(where[a], where[b]) for a, b in highlights if 0 <= a < b <= len(snippet)]
    if len(text) > limit:
        text = text[: limit - 1].rstrip()
        spans = [(a, min(b, len(text))) for a, b in spans if a < len(text)]
        text += "…"
    return [(unicodedata.normalize("NFC", piece), hit) for piece, hit in runs(text, spans)]


def _when(published: datetime | None) -> str:
    if published is None:
        return ""
    moment = published.replace(tzinfo=UTC) if published.tzinfo is None else published
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def view(item: AlertItem, snippet_limit: int = SNIPPET_LIMIT) -> dict[str, Any]:
    """What a message shows of one item: cleaned text, safe links (None where a URL may not be
    a link), published time, and the snippet as (piece, is_match) runs."""
    runs = snippet_runs(item.snippet, item.highlights, snippet_limit)
    return {
        "title": one_line(item.title) or one_line(item.url) or "(untitled)",
        "href": link(item.url),
        "source": one_line(item.source_name),
        "published": _when(item.published),
        "snippet": "".join(piece for piece, _ in runs),
        "runs": runs,
        "also": [(one_line(name) or "link", link(url)) for name, url in item.also_reported],
    }


def _address(value: str) -> str:
    if not value.strip() or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ValueError(f"not a usable email address: {value!r}")
    return value.strip()


def _domain(sender: str) -> str:
    found = re.search(r"@([A-Za-z0-9.-]+)>?\s*$", sender)
    return found.group(1).strip(".").lower() if found else "localhost"


def build_message(
    *,
    topic: str,
    items: Sequence[AlertItem],
    sender: str,
    recipients: Sequence[str],
    digest: bool,
    subject_prefix: str = "",
    now: datetime | None = None,
    message_id_domain: str | None = None,
    message_key: str | None = None,
) -> EmailMessage:
    """One alert message for `items` of `topic`. The subject is "topic: title" for one item and
    "topic: N new articles" for more; Message-ID and List-Id use `message_id_domain`, by default
    the sender's domain. A `message_key` makes the Message-ID the same each time the message is
    built, so a copy sent again after a lost reply is known as the same message by mail servers
    and readers. Raises ValueError for no items, no recipients or a bad address."""
    if not items:
        raise ValueError("an alert needs at least one item")
    if not recipients:
        raise ValueError("an alert needs at least one recipient")
    topic_text = header_text(topic, TOPIC_LIMIT) or "topic"
    views = [view(item) for item in items]
    if len(items) == 1:
        summary = header_text(views[0]["title"], TITLE_LIMIT) or "1 new article"
    else:
        summary = f"{len(items)} new articles"
    prefix = header_text(subject_prefix, TOPIC_LIMIT)
    subject = f"{prefix} {topic_text}: {summary}" if prefix else f"{topic_text}: {summary}"
    domain = re.sub(r"[^a-z0-9.-]", "", (message_id_domain or _domain(sender)).lower())
    domain = domain.strip(".") or "localhost"
    slug = re.sub(r"[^a-z0-9]+", "-", fold(topic_text)).strip("-")[:60] or "topic"

    context = {"topic": topic_text, "subject": subject, "items": views, "digest": digest}
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(sender)
    message["To"] = ", ".join(_address(recipient) for recipient in recipients)
    message["Subject"] = subject
    moment = now or datetime.now(UTC)
    message["Date"] = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if message_key:
        key = re.sub(r"[^A-Za-z0-9.-]", "", message_key)
        message["Message-ID"] = f"<{key}.{slug}@{domain}>"
    else:
        message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Crawler-Topic"] = topic_text
    message["List-Id"] = f"<{slug}.{domain}>"
    text = _ENV.get_template("alert.txt").render(context)
    html = _ENV.get_template("alert.html").render(context)
    message.set_content(text, subtype="plain", cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    # Fixed now, so every serialization (file, SMTP, a test) gives the same bytes; "=_" cannot
    # occur in quoted-printable text, so the boundary never collides with the content.
    message.set_boundary(f"=_crawler_{secrets.token_hex(12)}")
    return message


SAMPLE_SNIPPETS = (
    "Three freighters that left Amirabad in October carried drones and artillery "
    "shells to Makhachkala, according to shipping data and port records seen by the paper.",
    "Images taken on 20 November show four new warehouses next to the rail "
    "spur at Amirabad, where analysts say drones are loaded for the crossing.",
    "The sanctions name six companies accused of moving artillery shells and "
    "drone parts between Iranian and Russian ports on the Caspian Sea.",
)


def sample_highlights(text: str, query: str) -> tuple[tuple[int, int], ...]:
    """Where `query` matches in `text`, by the topic matcher itself (for sample messages)."""
    from crawler.topics import Document, Matcher, Topic

    matches = Matcher([Topic("sample", query)]).match(Document(text=text))
    return matches[0].spans.get("text", ()) if matches else ()


def example_html() -> str:
    """The HTML part of a sample digest of three invented items, as shown in docs/."""
    when = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    items = [
        AlertItem(
            item_id="01JEXAMPLE0000000000000001",
            title="Freighters carried drones and artillery shells across the Caspian, data show",
            url="https://caspian-courier.example/news/freighters-drones-artillery-shells",
            source_name="Caspian Courier",
            published=when.replace(hour=8, minute=12),
            snippet=SAMPLE_SNIPPETS[0],
            highlights=sample_highlights(
                SAMPLE_SNIPPETS[0], 'drones OR "artillery shells" OR amirabad'
            ),
            also_reported=[
                ("Harbor Wire", "https://harbor-wire.example/world/2026/drone-debris-traced"),
                ("Steppe Herald", "https://steppe-herald.example/caspian-shipments"),
            ],
        ),
        AlertItem(
            item_id="01JEXAMPLE0000000000000002",
            title="Satellite images show new warehouses at Amirabad port",
            url="https://caspian-courier.example/news/amirabad-port-satellite-images",
            source_name="Caspian Courier",
            published=when.replace(hour=9, minute=40),
            snippet=SAMPLE_SNIPPETS[1],
            highlights=sample_highlights(SAMPLE_SNIPPETS[1], "drones OR amirabad"),
        ),
        AlertItem(
            item_id="01JEXAMPLE0000000000000003",
            title="Western governments sanction Caspian shipping firms",
            url="https://harbor-wire.example/world/2026/sanctions-caspian-shipping",
            source_name="Harbor Wire",
            published=None,
            snippet=SAMPLE_SNIPPETS[2],
            highlights=sample_highlights(
                SAMPLE_SNIPPETS[2], '"artillery shells" OR drone* OR caspian'
            ),
        ),
    ]
    message = build_message(
        topic="caspian-arms",
        items=items,
        sender="crawler@localhost",
        recipients=["desk@example.org"],
        digest=True,
        subject_prefix="[crawler]",
        now=when,
    )
    part = message.get_body(("html",))
    if part is None:
        raise RuntimeError("the alert message has no HTML part")
    return str(part.get_content())


def write_example(path: str | Path) -> None:
    """Write example_html() to `path` (docs/alert-example.html in the repository)."""
    Path(path).write_text(example_html(), encoding="utf-8")
