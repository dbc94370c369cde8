"""The alert email: structure, subject, content parity, highlighting, and header/markup injection."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.alerts import AlertItem, build_message
from crawler.alerts.message import example_html, sample_highlights, snippet_runs

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-crawler-topic",
    "list-id",
    "mime-version",
    "content-type",
}
EVIL_TITLE = (
    "Cargo ships\r\nBcc: victim@example.net\nX-Evil: 1\u2028X-Line-Sep: 1\x0bX-Vt: 1\x0cX-Ff: 1"
    "\x85X-Nel: 1 <script>alert(1)</script> =?utf-8?q?x=0D=0AX-Injected:_yes?="
    " =?utf-8?b?DQpYLUI2NDogeWVz?="
)
INJECTED = ("bcc", "x-evil", "x-line-sep", "x-vt", "x-ff", "x-nel", "x-injected", "x-b64")


def _item(n: int = 1, **changes: object) -> AlertItem:
    fields: dict[str, object] = {
        "item_id": f"01JITEM{n:019d}",
        "title": f"Cargo ships cross the Caspian, part {n}",
        "url": f"https://caspian-courier.example/news/{n}?a=1&b=2",
        "source_name": "Caspian Courier",
        "published": datetime(2026, 11, 25, 9, n, tzinfo=UTC),
        "snippet": f"Freighters carrying drones left Amirabad, shipping data show (story {n}).",
        "highlights": [(20, 26), (32, 40)],
        "also_reported": [],
    }
    fields.update(changes)
    return AlertItem(**fields)  # type: ignore[arg-type]


def _build(items: list[AlertItem], **options: object) -> EmailMessage:
    arguments: dict[str, object] = {
        "topic": "caspian-arms",
        "items": items,
        "sender": "Crawler <crawler@alerts.example>",
        "recipients": ["desk@example.org", "Night Desk <night@example.org>"],
        "digest": True,
        "now": NOW,
    }
    arguments.update(options)
    return build_message(**arguments)  # type: ignore[arg-type]


def _parse(message: EmailMessage) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parts(message: EmailMessage) -> tuple[str, str]:
    parsed = _parse(message)
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def _header_block(message: EmailMessage) -> list[str]:
    head = message.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.split("\r\n")


def _words(text: str) -> str:
    return " ".join(text.split())


def test_digest_is_one_multipart_alternative_message_plain_first() -> None:
    message = _build([_item(1), _item(2), _item(3)])
    assert message.as_bytes() == message.as_bytes()  # the boundary is fixed
    parsed = _parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert not any(part.is_attachment() for part in parts)


def test_headers_are_exactly_the_expected_set() -> None:
    parsed = _parse(_build([_item(1)]))
    assert {name.lower() for name in parsed} == EXPECTED_HEADERS
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Crawler-Topic"] == "caspian-arms"
    assert parsed["List-Id"] == "<caspian-arms.alerts.example>"
    assert parsed["Message-ID"].endswith("@alerts.example>")
    assert parsed["Date"].datetime == NOW
    assert [a.addr_spec for a in parsed["To"].addresses] == [
        "desk@example.org",
        "night@example.org",
    ]
    assert parsed["From"].addresses[0].display_name == "Crawler"


def test_message_id_domain_can_be_given() -> None:
    parsed = _parse(_build([_item(1)], message_id_domain="mail.example.com"))
    assert parsed["Message-ID"].endswith("@mail.example.com>")


@pytest.mark.parametrize(
    ("count", "digest", "prefix", "subject"),
    [
        (3, True, "[crawler]", "[crawler] caspian-arms: 3 new articles"),
        (2, False, "", "caspian-arms: 2 new articles"),
        (1, False, "", "caspian-arms: Cargo ships cross the Caspian, part 1"),
        (1, True, "[crawler] ", "[crawler] caspian-arms: Cargo ships cross the Caspian, part 1"),
    ],
)
def test_subject_names_topic_and_count_or_the_one_title(
    count: int, digest: bool, prefix: str, subject: str
) -> None:
    items = [_item(n) for n in range(1, count + 1)]
    parsed = _parse(_build(items, digest=digest, subject_prefix=prefix))
    assert parsed["Subject"] == subject


def test_text_and_html_carry_the_same_content() -> None:
    also = [
        ("Harbor Wire", "https://harbor-wire.example/w/1"),
        ("Steppe Herald", "http://sh.example/2"),
    ]
    items = [_item(1, also_reported=also), _item(2), _item(3, published=None)]
    plain, html = _parts(_build(items))
    for item in items:
        for text in (item.title, item.url, item.source_name):
            assert text in plain
        assert _words(item.snippet) in _words(plain)
        assert _words(item.snippet) in _words(re.sub(r"<[^>]+>", "", html))
        assert item.title in html
        assert item.url.replace("&", "&amp;") in html
        assert item.source_name in html
    for name, url in also:
        assert name in plain and url in plain
        assert name in html and f'href="{url}"' in html
    assert "25 Nov 2026, 09:01 UTC" in plain and "25 Nov 2026, 09:01 UTC" in html
    assert plain.count(" UTC") == html.count(" UTC") == 2


def test_non_ascii_survives_the_round_trip() -> None:
    title = "Грузовые суда пересекли Каспий — سفن الشحن تعبر بحر قزوين — São Tomé"
    snippet = "Суда с дронами вышли из Амирабада; الطائرات المسيرة; café naïve"  # noqa: RUF001
    parsed_plain, parsed_html = _parts(
        _build([_item(1, title=title, snippet=snippet, source_name="Ñews Ώρα")], digest=False)
    )
    assert title in parsed_plain and title in parsed_html
    assert _words(snippet) in _words(parsed_plain)
    assert "Ñews Ώρα" in parsed_html
    assert _parse(_build([_item(1, title=title)], digest=False))["Subject"].endswith(title)


def test_title_cannot_inject_headers_or_markup() -> None:
    message = _build([_item(1, title=EVIL_TITLE)], digest=False)
    parsed = _parse(message)
    assert {name.lower() for name in parsed} == EXPECTED_HEADERS
    for line in _header_block(message):
        assert not line.lower().startswith(INJECTED), line
    subject = parsed["Subject"]
    assert "\r" not in subject and "\n" not in subject and "\u2028" not in subject
    assert subject.startswith("caspian-arms: Cargo ships Bcc: victim@example.net")
    plain, html = _parts(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not any(line.lower().startswith(INJECTED) for line in plain.splitlines())


def test_topic_and_prefix_are_single_line_too() -> None:
    parsed = _parse(
        _build([_item(1)], topic="arms\r\nBcc: x@example.net", subject_prefix="[c]\nX-Evil: 1")
    )
    assert {name.lower() for name in parsed} == EXPECTED_HEADERS
    assert parsed["X-Crawler-Topic"] == "arms Bcc: x@example.net"


def test_address_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError):
        _build([_item(1)], recipients=["desk@example.org\r\nBcc: x@example.net"])
    with pytest.raises(ValueError):
        _build([_item(1)], recipients=[])
    with pytest.raises(ValueError):
        _build([])


@settings(max_examples=150, deadline=None)
@given(title=st.text(max_size=300), topic=st.text(max_size=40))
def test_no_title_or_topic_adds_a_header(title: str, topic: str) -> None:
    message = _build([_item(1, title=title)], topic=topic, digest=False)
    parsed = _parse(message)
    assert {name.lower() for name in parsed} == EXPECTED_HEADERS
    for name in ("Subject", "X-Crawler-Topic"):
        assert not re.search(r"[\r\n\x00-\x1f\x7f-\x9f\u2028\u2029]", parsed[name])
    assert all(len(line) <= 998 for line in message.as_bytes().split(b"\r\n"))


def test_only_http_urls_become_links() -> None:
    items = [
        _item(1, url="javascript:alert(document.cookie)"),
        _item(2, url="https://ok.example/a", also_reported=[("Evil", "data:text/html,<b>x")]),
        _item(3, url='https://ok.example/"onmouseover="alert(1)'),
    ]
    plain, html = _parts(_build(items))
    assert "javascript:" not in html and "javascript:" not in plain
    assert "data:text" not in html and "data:text" not in plain
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(href.startswith(("https://", "http://")) for href in hrefs)
    assert 'onmouseover="' not in html
    assert "Evil" in html and "Evil" in plain


def test_matched_terms_are_highlighted_and_still_escaped() -> None:
    snippet = "<b>Tehran</b> & MOSCOW: drones from São Paulo; dronesque is not a drone"
    spans = sample_highlights(snippet, 'tehran OR moscow OR "sao paulo" OR drone')
    items = [_item(1, snippet=snippet, highlights=spans)]
    _, html = _parts(_build(items))
    assert "&lt;b&gt;<strong" in html
    assert ">Tehran</strong>&lt;/b&gt; &amp; <strong" in html
    assert ">MOSCOW</strong>" in html
    assert ">São Paulo</strong>" in html
    assert ">drone</strong>" in html
    assert ">drones</strong>" not in html and ">dronesque</strong>" not in html


def test_highlights_are_the_matchers_spans_kept_through_cleaning() -> None:
    snippet = "Drones\u200b  over Tehran,\tTEHRAN-bound"
    spans = sample_highlights(snippet, "tehran")
    assert [snippet[a:b] for a, b in spans] == ["Tehran", "TEHRAN"]
    assert snippet_runs(snippet, spans) == [
        ("Drones over ", False),
        ("Tehran", True),
        (", ", False),
        ("TEHRAN", True),
        ("-bound", False),
    ]
    stemmed = "Straße in Zürich, artillery  shells were"
    spans = sample_highlights(stemmed, 'strasse OR zurich OR "artillery shells"')
    assert snippet_runs(stemmed, spans) == [
        ("Straße", True),
        (" in ", False),
        ("Zürich", True),
        (", ", False),
        ("artillery shells", True),
        (" were", False),
    ]
    assert snippet_runs("nothing here", []) == [("nothing here", False)]
    assert snippet_runs("a long snippet", [(2, 6)], limit=5) == [
        ("a ", False),
        ("lo", True),
        ("…", False),
    ]


def test_html_fits_a_phone_and_outlook() -> None:
    _, html = _parts(_build([_item(n) for n in range(1, 4)]))
    widths = [int(w) for w in re.findall(r"(?<![-\w])(?:max-)?width\s*[:=]\s*\"?(\d+)", html)]
    assert widths and max(widths) <= 600
    assert "max-width:600px" in html
    sizes = [int(size) for size in re.findall(r"font-size:\s*(\d+)px", html)]
    assert sizes and min(sizes) >= 14
    assert "display:flex" not in html and "display:grid" not in html
    assert '<meta name="viewport"' in html
    assert "<table" in html and 'role="presentation"' in html


def test_docs_example_is_current() -> None:
    docs = Path(__file__).parent.parent / "docs" / "alert-example.html"
    assert docs.read_text("utf-8") == example_html(), (
        "regenerate with: python -c 'from crawler.alerts.message import write_example;"
        ' write_example("docs/alert-example.html")\''
    )
