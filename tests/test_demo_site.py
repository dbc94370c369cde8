"""The bundled demo news site: every file renders, the feeds parse, links resolve, dates are fresh,
the wire story is the same text on two outlets, and the article pages extract to clean text."""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit
from urllib.robotparser import RobotFileParser

import feedparser
import lxml.html
import pytest
from lxml import etree

from crawler.demo.render import SITE_DIR, render, served_paths

BASE = "http://127.0.0.1:8123"
NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)

COURIER_FEED = "caspian-courier/rss.xml"
HERALD_FEED = "steppe-herald/atom.xml"
SECTION_PAGE = "harbor-wire/world/"
SECTION_ALLOW = re.compile(r"/harbor-wire/world/\d{4}/")

WIRE_COURIER = "caspian-courier/news/freighters-drones-artillery-shells-caspian-shipping-data.html"
WIRE_HERALD = "steppe-herald/story/4471-freighters-drones-artillery-shells-caspian.html"
ON_TOPIC = [
    "caspian-courier/news/amirabad-port-satellite-images-warehouses.html",
    WIRE_COURIER,
    "caspian-courier/news/western-governments-sanctions-caspian-shipping-firms.html",
    WIRE_HERALD,
    "steppe-herald/story/4468-insurers-withdraw-cover-caspian-freighters.html",
    "harbor-wire/world/2026/caspian-sea-arms-corridor-iran-russia-explained.html",
    "harbor-wire/world/2026/drone-debris-traced-caspian-shipments.html",
]
OFF_TOPIC = "caspian-courier/news/dorvaly-honey-fair-record-crowds.html"
NEAR_MISS = "steppe-herald/story/4462-aktau-wheat-exports-seasonal-high.html"
ARTICLES = [*ON_TOPIC, OFF_TOPIC, NEAR_MISS]
OUTLETS = {
    "caspian-courier": "The Caspian Courier",
    "steppe-herald": "Steppe Herald",
    "harbor-wire": "Harbor Wire",
}
BODY_XPATH = {
    "caspian-courier": "//div[@class='article-body']",
    "steppe-herald": "//div[@itemprop='articleBody']",
    "harbor-wire": "//div[@id='article-content']",
}
ARMS_WORDS = re.compile(r"\b(?:drones?|artillery shells|ammunition|munitions|weapons)\b", re.I)
JUNK = ["innerHTML", "getElementById", "App Store", "Subscribe", "cookie", "Share"]
MORE_JUNK = ["SEE MORE", "Related articles", "print edition", "All rights reserved", "Sign up"]


def _get(path: str) -> tuple[bytes, str]:
    rendered = render(path, BASE, NOW)
    assert rendered is not None, f"{path} does not render"
    return rendered


def _page(path: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(_get(path)[0], base_url=f"{BASE}/{path}")


def _path_of(url: str) -> str:
    """The site path the server would render for an absolute URL on the demo host."""
    return unquote(urlsplit(url).path).lstrip("/")


def _internal_links(path: str) -> list[str]:
    page = _page(path)
    page.make_links_absolute(f"{BASE}/{path}")
    return [link for _, _, link, _ in page.iterlinks() if link.startswith(f"{BASE}/")]


def _body_paragraphs(path: str) -> list[etree._Element]:
    outlet = path.split("/")[0]
    (body,) = _page(path).xpath(BODY_XPATH[outlet])
    return body.findall(".//p")


def _feed(path: str) -> feedparser.FeedParserDict:
    body, _ = _get(path)
    return feedparser.parse(body)


# --- rendering ----------------------------------------------------------------------------------


def test_every_served_path_renders_with_its_content_type() -> None:
    expected = {
        ".html": "text/html; charset=utf-8",
        "rss.xml": "application/rss+xml",
        "atom.xml": "application/atom+xml",
        ".txt": "text/plain; charset=utf-8",
    }
    paths = served_paths()
    assert {"", "robots.txt", COURIER_FEED, HERALD_FEED, SECTION_PAGE, *ARTICLES} <= set(paths)
    for path in paths:
        body, content_type = _get(path)
        name = path + "index.html" if path.endswith("/") or not path else path
        suffix = next(key for key in expected if name.endswith(key))
        assert content_type == expected[suffix], path
        assert body.strip(), path
        if suffix == ".html":
            assert _page(path).get("lang") == "en", path


def test_a_folder_path_serves_its_index() -> None:
    assert _get("harbor-wire/world/") == _get("harbor-wire/world/index.html")
    assert _get("") == _get("index.html")
    assert render("harbor-wire/world", BASE, NOW) is None


def test_base_and_dates_follow_the_arguments() -> None:
    other = render(COURIER_FEED, "http://127.0.0.1:9999/", NOW + timedelta(days=400))
    assert other is not None
    assert b"http://127.0.0.1:9999/caspian-courier/" in other[0]
    assert b"http://127.0.0.1:9999//" not in other[0]
    assert other[0] != _get(COURIER_FEED)[0]


@pytest.mark.parametrize(
    "path",
    [
        "caspian-courier/_base.html",
        "caspian-courier/_article.html",
        "caspian-courier/_stories.html",
        "steppe-herald/_base.html",
        "steppe-herald/_story.html",
        "harbor-wire/_base.html",
        "harbor-wire/_listing.html",
        "_shared/meridian-caspian-freighters.html",
    ],
)
def test_layouts_and_fragments_are_not_served(path: str) -> None:
    assert (SITE_DIR / path).is_file()
    assert render(path, BASE, NOW) is None
    assert path not in served_paths()


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../render.py",
        "../../pyproject.toml",
        "caspian-courier/../robots.txt",
        "caspian-courier/news/../../../render.py",
        "/etc/passwd",
        "/robots.txt",
        "caspian-courier//rss.xml",
        "caspian-courier\\rss.xml",
        "./robots.txt",
        "robots.txt\x00.html",
        "missing.html",
        "caspian-courier/news/",
    ],
)
def test_paths_outside_the_site_or_missing_are_refused(path: str) -> None:
    assert render(path, BASE, NOW) is None


def test_robots_txt_allows_everything_but_private() -> None:
    robots = RobotFileParser()
    robots.parse(_get("robots.txt")[0].decode().splitlines())
    assert robots.can_fetch("crawler", f"{BASE}/caspian-courier/rss.xml")
    assert robots.can_fetch("crawler", f"{BASE}/harbor-wire/world/")
    assert not robots.can_fetch("crawler", f"{BASE}/private/drafts.html")


# --- feeds, links, dates ------------------------------------------------------------------------


def test_feeds_parse_cleanly_with_the_expected_entries() -> None:
    courier = _feed(COURIER_FEED)
    herald = _feed(HERALD_FEED)
    assert courier.bozo == 0 and herald.bozo == 0
    assert courier.version == "rss20" and herald.version == "atom10"
    assert courier.feed.title == "The Caspian Courier"
    assert herald.feed.title == "Steppe Herald"
    assert [_path_of(e.link) for e in courier.entries] == [
        ON_TOPIC[0],
        WIRE_COURIER,
        ON_TOPIC[2],
        OFF_TOPIC,
    ]
    assert [_path_of(e.link) for e in herald.entries] == [WIRE_HERALD, ON_TOPIC[4], NEAR_MISS]
    for entry in [*courier.entries, *herald.entries]:
        assert entry.title and entry.id and entry.summary and entry.published_parsed
        assert entry.summary.count(". ") == 0, "a one-sentence summary"


def test_one_feed_link_carries_tracking_parameters() -> None:
    links = [entry.link for entry in _feed(COURIER_FEED).entries]
    tracked = [link for link in links if urlsplit(link).query]
    assert tracked == [f"{BASE}/{ON_TOPIC[0]}?utm_source=rss&utm_medium=feed"]


def test_feed_links_resolve() -> None:
    for feed in (COURIER_FEED, HERALD_FEED):
        for entry in _feed(feed).entries:
            assert entry.link.startswith(f"{BASE}/")
            _get(_path_of(entry.link))


def test_section_page_links_two_articles_and_decoys_that_all_resolve() -> None:
    links = set(_internal_links(SECTION_PAGE))
    articles = {_path_of(link) for link in links if SECTION_ALLOW.search(urlsplit(link).path)}
    assert articles == {p for p in ON_TOPIC if p.startswith("harbor-wire/world/2026/")}
    decoys = {_path_of(link) for link in links} - articles
    assert {"harbor-wire/", "harbor-wire/about/", "harbor-wire/business/"} <= decoys
    assert {"harbor-wire/tag/caspian-sea/", "harbor-wire/tag/drones/"} <= decoys
    for link in links:
        _get(_path_of(link))


def test_every_internal_link_on_every_page_resolves() -> None:
    for path in served_paths():
        if not (path.endswith((".html", "/")) or path == ""):
            continue
        for link in _internal_links(path):
            assert render(_path_of(link), BASE, NOW) is not None, f"{path} -> {link}"


def _page_dates(path: str) -> list[datetime]:
    page = _page(path)
    values = page.xpath("//meta[@property='article:published_time']/@content")
    values += page.xpath("//time/@datetime | //*[@data-published]/@data-published")
    for script in page.xpath("//script[@type='application/ld+json']/text()"):
        data = json.loads(script)
        values += [data[key] for key in ("datePublished", "dateModified") if key in data]
    return [datetime.fromisoformat(value) for value in values]


def test_every_date_falls_within_the_last_30_hours() -> None:
    oldest = NOW - timedelta(hours=30)
    for feed in (COURIER_FEED, HERALD_FEED):
        parsed = _feed(feed)
        # dict.get: feedparser's own lookup warns when it maps "updated" to "published"
        stamps = [dict.get(parsed.feed, "updated_parsed")]
        stamps += [e.published_parsed for e in parsed.entries]
        stamps += [dict.get(e, "updated_parsed") or e.published_parsed for e in parsed.entries]
        for stamp in stamps:
            assert stamp is not None, feed
            moment = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
            assert oldest <= moment <= NOW, feed
    for path in served_paths():
        if path.endswith(".html"):
            for moment in _page_dates(path):
                assert oldest <= moment <= NOW, path
    for path in ARTICLES:
        assert _page_dates(path), f"{path} has no publication date"


# --- articles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ARTICLES)
def test_article_pages_carry_news_metadata(path: str) -> None:
    page = _page(path)
    outlet = OUTLETS[path.split("/")[0]]
    (headline,) = page.xpath("//meta[@property='og:title']/@content")
    assert page.findtext(".//title") == f"{headline} | {outlet}"
    assert page.xpath("//meta[@property='og:site_name']/@content") == [outlet]
    assert page.xpath("//link[@rel='canonical']/@href") == [f"{BASE}/{path}"]
    authors = page.xpath("//meta[@name='author']/@content")
    ld = page.xpath("//script[@type='application/ld+json']/text()")
    assert authors or any(json.loads(block).get("author") for block in ld)
    assert 4 <= len(_body_paragraphs(path)) <= 8
    assert page.xpath("//*[@id='linkPremium']") and "innerHTML" in etree.tostring(page).decode()


def test_the_wire_story_body_is_byte_identical_on_both_outlets() -> None:
    courier = _body_paragraphs(WIRE_COURIER)
    herald = _body_paragraphs(WIRE_HERALD)
    assert [p.text_content() for p in courier] == [p.text_content() for p in herald]
    assert [etree.tostring(p, with_tail=False) for p in courier] == [
        etree.tostring(p, with_tail=False) for p in herald
    ]
    assert "Meridian Press" in courier[0].text_content()
    assert _get(WIRE_COURIER)[0] != _get(WIRE_HERALD)[0]


def _body_text(path: str) -> str:
    return "\n".join(p.text_content() for p in _body_paragraphs(path))


@pytest.mark.parametrize("path", ON_TOPIC)
def test_on_topic_articles_name_the_sea_and_the_arms(path: str) -> None:
    text = _body_text(path)
    assert "Caspian" in text and ARMS_WORDS.search(text)
    assert re.search(r"\b(?:Iran|Tehran)\b", text) and re.search(r"\b(?:Russia|Moscow)\b", text)


def test_off_topic_articles_stay_off_topic() -> None:
    headline = _page(OFF_TOPIC).xpath("//meta[@property='og:title']/@content")[0]
    off = f"{headline}\n{_body_text(OFF_TOPIC)}"
    banned = r"\b(?:caspian|ships?|shipping|drones?|shells?|artillery|ammunition|iran\w*|tehran"
    banned += r"|russia\w*|moscow|arms|weapons?|sanctions?|ports?)\b"
    assert not re.search(banned, off, re.I)
    near = _body_text(NEAR_MISS)
    assert "Caspian" in near and not ARMS_WORDS.search(near)
    assert not re.search(r"\b(?:iran\w*|tehran|russia\w*|moscow|military|sanctions?)\b", near, re.I)


# --- extraction (crawler.extract) ---------------------------------------------------------------


@pytest.mark.parametrize("path", ARTICLES)
def test_article_pages_extract_to_clean_text(path: str) -> None:
    from crawler.extract import extract

    article = extract(_get(path)[0], f"{BASE}/{path}")
    assert article is not None
    assert article.title == _page(path).xpath("//meta[@property='og:title']/@content")[0]
    for junk in [*JUNK, *MORE_JUNK]:
        assert junk not in article.text, f"{junk!r} in the text of {path}"
    for paragraph in _body_paragraphs(path):
        assert paragraph.text_content() in article.text


def test_the_wire_story_extracts_to_the_same_text_on_both_outlets() -> None:
    from crawler.extract import extract

    courier = extract(_get(WIRE_COURIER)[0], f"{BASE}/{WIRE_COURIER}")
    herald = extract(_get(WIRE_HERALD)[0], f"{BASE}/{WIRE_HERALD}")
    assert courier is not None and herald is not None
    assert courier.text == herald.text
    assert courier.text == _body_text(WIRE_COURIER)
