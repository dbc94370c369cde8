"""crawler.extract: clean article text and metadata from a fetched page."""

from __future__ import annotations

import gzip
import importlib.util
import json
import pickle
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import Article, extract, is_html

DATA = Path(__file__).parent / "data" / "extract"
REPO_ROOT = Path(__file__).resolve().parent.parent
URL = "https://ledger.example/news/tide-mill?utm_source=feed"

PARAGRAPHS = [
    "Councillors in Saltmere voted by nine to two on Tuesday evening to restore the tide mill "
    "that has stood empty on the harbour wall since the late 1960s.",
    "The plan, drawn up by a trust of local volunteers, would repair the oak waterwheel, rebuild "
    "the sluice gates and open the ground floor as a small museum about the grain trade.",
    "Engineers told the meeting that the foundations are sound but that the timber frame of the "
    "upper floors has rotted in several places and will need to be replaced.",
]


def page(head: str = "", body: str = "", lang: str = "en") -> str:
    """A small article page: `head` goes into <head>, `body` after three real paragraphs."""
    paragraphs = "".join(f"<p>{text}</p>" for text in PARAGRAPHS)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">{head}</head>'
        f"<body><main><article>{paragraphs}{body}</article></main></body></html>"
    )


@pytest.fixture(scope="module")
def news() -> Article:
    article = extract((DATA / "news.html").read_bytes(), URL)
    assert article is not None
    return article


# --- body ---------------------------------------------------------------------------------------


def test_news_page_keeps_every_paragraph(news: Article) -> None:
    assert news.text.startswith("Councillors in Saltmere voted by nine to two")
    assert "repair the oak waterwheel" in news.text
    assert "the timber frame of the upper floors" in news.text
    assert "raised a little under half of the money" in news.text
    assert "sea defences further along the bay" in news.text
    assert news.text.endswith("a lift to be added at the back of the building.")
    assert len(news.text.split("\n")) == 6


@pytest.mark.parametrize(
    "junk",
    [
        "Harbour town votes",  # the headline is the title, not the body
        "Maren Holt",  # byline
        "cookies",  # cookie banner
        "Home",  # navigation
        "Share",  # share buttons and "Share it with a friend"
        "getElementById",  # inline premium widget script
        "innerHTML",
        "Become a member",
        "Subscribe",
        "newsletter",
        "READ MORE",  # in-text teaser link
        "Ferry timetable",
        "Buy in our store",
        "App Store",
        "Google Play",
        "Related articles",
        "Harbour wall repairs delayed",
        "comments",
        "Sailor42",
        "eyesore",
        "All rights reserved",
    ],
)
def test_news_page_drops_junk(news: Article, junk: str) -> None:
    assert junk not in news.text


def test_script_text_never_reaches_the_body() -> None:
    # markup where the widget code ended up as text, as a naive scrape would see it
    body = (
        '<p>document.getElementById("linkPremium").innerHTML = "Become a member";</p>'
        "<p>var premium = window.premium || {};</p>"
        "<script>document.getElementById('x').innerHTML = 'y';</script>"
    )
    article = extract(page(body=body), URL)
    assert article is not None
    assert article.text == "\n".join(PARAGRAPHS)


@pytest.mark.parametrize(
    "junk",
    [
        "<p>Buy in our store: the Saltmere tide calendar</p>",
        "<p>Read the Ledger on the go: download on the App Store or get it on Google Play.</p>",
        '<p><strong>SEE MORE: <a href="/x">Storm washes away the coastal path</a></strong></p>',
        "<p><strong>DON'T MISS</strong></p>"
        '<p><a href="/a">Harbour wall repairs delayed</a> [INSIGHT]<br>'
        '<a href="/b">Grain trade in pictures</a> [VIDEO]</p>',
        "<p>Like this story? Share it with a friend!</p>",
        "<ul><li>Order Reprints</li><li>Print Article</li></ul>",
        "<p>Sign up for the Morning Ledger newsletter to get the headlines in your inbox.</p>",
        "<p>Maren Holt contributed to this report.</p>",
    ],
)
def test_trailing_junk_is_dropped(junk: str) -> None:
    article = extract(page(body=junk), URL)
    assert article is not None
    assert article.text == "\n".join(PARAGRAPHS)


def test_related_link_list_is_dropped() -> None:
    links = "".join(f'<li><a href="/news/{i}">Another story number {i}</a></li>' for i in range(4))
    article = extract(page(body=f"<ul>{links}</ul>"), URL)
    assert article is not None
    assert "Another story" not in article.text


# --- metadata -----------------------------------------------------------------------------------


def test_news_page_metadata(news: Article) -> None:
    assert news.url == URL
    assert news.title == "Harbour town votes to restore its tide mill"
    assert news.author == "Maren Holt; Idris Fenwick"
    assert news.published == "2024-05-14T09:30:00+01:00"
    assert news.language == "en"
    assert news.sitename == "The Coastal Ledger"


def test_canonical_url_is_made_absolute(news: Article) -> None:
    assert news.canonical_url == "https://ledger.example/news/2024/05/tide-mill-vote"


def test_og_url_is_the_fallback_canonical() -> None:
    article = extract(page('<meta property="og:url" content="/news/tide-mill">'), URL)
    assert article is not None
    assert article.canonical_url == "https://ledger.example/news/tide-mill"


def test_no_canonical_is_none() -> None:
    article = extract(page(), URL)
    assert article is not None
    assert article.canonical_url is None


def headlined(head: str, headline: str, masthead: str = "") -> str:
    """An article page whose <header> holds `masthead` and whose <article> opens with
    `headline` (markup), then three real paragraphs."""
    paragraphs = "".join(f"<p>{text}</p>" for text in PARAGRAPHS)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{head}</head><body>'
        f"<header>{masthead}<nav><a href='/'>Home</a></nav></header>"
        f"<main><article>{headline}{paragraphs}</article></main></body></html>"
    )


def test_displayed_headline_is_preferred_to_seo_og_title() -> None:
    head = (
        "<title>Council backs mill | Ledger</title>"
        '<meta property="og:title" content="Harbour town votes to restore its tide mill">'
    )
    article = extract(headlined(head, "<h1>Saltmere backs its tide mill</h1>"), URL)
    assert article is not None
    assert article.title == "Saltmere backs its tide mill"


@pytest.mark.parametrize(
    ("head", "headline", "masthead", "title"),
    [
        # the outlet and the section glued on <title>; the h1 shows the headline alone
        (
            "<title>Tide mill to reopen - World - Example News</title>",
            "<h1>Tide mill to reopen</h1>",
            "",
            "Tide mill to reopen",
        ),
        # typographic quotes and dashes as the page shows them, not og:title's plain ones
        (
            '<meta property="og:title" content="\'We will rebuild it\' - mill trust">',
            "<h1>\u2018We will rebuild it\u2019 \u2013 mill trust</h1>",
            "",
            "\u2018We will rebuild it\u2019 \u2013 mill trust",
        ),
        # og:title cut off; the h1 has it whole
        (
            '<meta property="og:title" content="Councillors vote to restore the tide mill on">',
            "<h1>Councillors vote to restore the tide mill on the harbour wall</h1>",
            "",
            "Councillors vote to restore the tide mill on the harbour wall",
        ),
        # the only <h1> is the masthead; the headline is the element og:title confirms
        (
            '<meta property="og:title" content="Tide mill to reopen">',
            '<h2 class="story-title">Tide mill to reopen</h2>',
            "<h1>The Coastal Ledger</h1>",
            "Tide mill to reopen",
        ),
        # a masthead <h1> before the article's own
        (
            "<title>Tide mill to reopen | The Coastal Ledger</title>",
            "<h1>Tide mill to reopen</h1>",
            "<h1>The Coastal Ledger</h1>",
            "Tide mill to reopen",
        ),
        # no headline element: <title> without the outlet, full-width separator included
        (
            "<title>\u6c34\u8eca\u5c0f\u5c4b\u3092\u4fee\u5fa9\u3078\uff1a\u65e5\u672c\u7d4c"
            '\u6e08\u65b0\u805e</title><meta property="og:site_name" content="\u65e5\u672c'
            '\u7d4c\u6e08\u65b0\u805e">',
            "",
            "",
            "\u6c34\u8eca\u5c0f\u5c4b\u3092\u4fee\u5fa9\u3078",
        ),
    ],
)
def test_title_is_the_headline_as_displayed(
    head: str, headline: str, masthead: str, title: str
) -> None:
    article = extract(headlined(head, headline, masthead), URL)
    assert article is not None
    assert article.title == title


@pytest.mark.parametrize(
    ("head", "title"),
    [
        ("<title>Tide mill to reopen | The Coastal Ledger</title>", "Tide mill to reopen"),
        ("<title>Tide mill to reopen - Ledger.example</title>", "Tide mill to reopen"),
        ("<title>The Coastal Ledger \u2013 Tide mill to reopen</title>", "Tide mill to reopen"),
        (
            "<title>Mid-term report: tide mill to reopen - Ledger</title>",
            "Mid-term report: tide mill to reopen",
        ),
        (
            '<meta property="og:title" content="Tide mill to reopen \u00bb Saltmere Post">'
            '<meta property="og:site_name" content="Saltmere Post">',
            "Tide mill to reopen",
        ),
        ("<title>Tide mill to reopen</title>", "Tide mill to reopen"),
    ],
)
def test_outlet_suffix_is_stripped_from_title(head: str, title: str) -> None:
    article = extract(page(head), URL)
    assert article is not None
    assert article.title == title


def test_json_ld_graph_date_and_authors() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Ledger"},
            {
                "@type": ["NewsArticle"],
                "datePublished": "2024-05-14",
                "author": ["By Maren Holt", {"@type": "Person", "name": "Idris Fenwick"}],
            },
        ],
    }
    head = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    article = extract(page(head), URL)
    assert article is not None
    assert article.published == "2024-05-14"
    assert article.author == "Maren Holt; Idris Fenwick"


def test_implausible_json_ld_date_falls_back_to_meta() -> None:
    ld = {"@context": "https://schema.org", "@type": "Article", "datePublished": "0001-01-01"}
    head = (
        f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        '<meta property="article:published_time" content="2024-05-14T09:30:00Z">'
    )
    article = extract(page(head), URL)
    assert article is not None
    assert article.published == "2024-05-14T09:30:00+00:00"


@pytest.mark.parametrize(
    ("head", "published", "source"),
    [
        (
            '<meta property="article:published_time" content="2024-05-14T09:30:00Z">',
            "2024-05-14T09:30:00+00:00",
            "meta",
        ),
        # a day written out counts; a year or a month alone does not
        ('<meta name="pubdate" content="May 14, 2024 9:30 PM">', "2024-05-14T21:30:00", "meta"),
        ('<meta name="date" content="2024">', None, None),
        ('<meta name="date" content="May 2024">', None, None),
        # the same moment stated in UTC and in the page's own zone: the page's day
        (
            '<meta property="article:published_time" content="2024-05-15T02:30:00Z">'
            '<meta name="sailthru.date" content="2024-05-14T22:30:00-04:00">',
            "2024-05-14T22:30:00-04:00",
            "meta",
        ),
    ],
)
def test_published_date_and_where_it_is_stated(
    head: str, published: str | None, source: str | None
) -> None:
    article = extract(page(head), URL)
    assert article is not None
    assert (article.published, article.published_source) == (published, source)


def test_published_from_a_time_element_in_the_article() -> None:
    html = headlined("", '<h1>Mill vote</h1><time datetime="2024-05-14">14 May 2024</time>')
    article = extract(html, URL)
    assert article is not None
    assert (article.published, article.published_source) == ("2024-05-14", "time")


def test_published_from_the_url_when_the_page_states_none() -> None:
    article = extract(page(), "https://ledger.example/2024/05/14/tide-mill.html")
    assert article is not None
    assert (article.published, article.published_source) == ("2024-05-14", "url")


@pytest.mark.parametrize(
    ("credit", "author"),
    [
        ("By TOM KRISHER, AP Auto Writer", "Tom Krisher"),
        ("Meg Kinnard and Errin Haines, Associated Press", "Meg Kinnard; Errin Haines"),
        ("Associated Press", "Associated Press"),
        ("Rachael Link, MS, RD", "Rachael Link"),
        ("Amy Kuperinsky | NJ Advance Media for NJ.com", "Amy Kuperinsky"),
        ("Analysis by Chris Cillizza, CNN Editor-at-large", "Chris Cillizza"),
        ("By Bryan DeArdo @BryanDeArdo Nov 18, 2019 at 9:24 pm", "Bryan DeArdo"),
    ],
)
def test_author_names_without_roles_outlets_or_dates(credit: str, author: str) -> None:
    article = extract(page(f'<meta name="author" content="{credit}">'), URL)
    assert article is not None
    assert article.author == author


def test_language_from_og_locale_when_html_has_no_lang() -> None:
    article = extract(page('<meta property="og:locale" content="pt_BR">', lang=""), URL)
    assert article is not None
    assert article.language == "pt"


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        b"",
        "",
        b"\x00\x01\x02\xff\xfe" * 200,
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        "<html><body></body></html>",
        "<html><head><title>Only a title</title></head><body><nav>Home</nav></body></html>",
        "<<<>>><p><div></p></div></<",
    ],
)
def test_pages_without_article_give_none(html: str | bytes) -> None:
    assert extract(html, URL) is None


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)))
def test_extract_never_raises(html: str | bytes) -> None:
    result = extract(html, URL)
    assert result is None or isinstance(result, Article)


def test_article_and_extract_pickle(news: Article) -> None:
    assert pickle.loads(pickle.dumps(news)) == news
    assert pickle.loads(pickle.dumps(extract)) is extract


# --- is_html ------------------------------------------------------------------------------------

HTML_BODY = b"<!DOCTYPE html><html><head><title>x</title></head><body>x</body></html>"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html", HTML_BODY, True),
        ("text/html; charset=utf-8", HTML_BODY, True),
        ("TEXT/HTML;charset=ISO-8859-1", b"<p>plain fragment</p>", True),
        ("application/xhtml+xml", b'<?xml version="1.0"?><html xmlns="x"></html>', True),
        ("application/pdf", b"%PDF-1.7\n...", False),
        ("text/html", b"%PDF-1.4 mislabelled", False),
        ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00", False),
        ("image/jpeg", HTML_BODY, False),
        ("application/json", b'{"html": "<html>"}', False),
        ("application/octet-stream", HTML_BODY, True),
        ("application/octet-stream", b"\x00\x01binary", False),
        ("application/octet-stream", b"\x1f\x8b\x08gzip", False),
        (None, HTML_BODY, True),
        (None, b"\xef\xbb\xbf  <html><body>x</body></html>", True),
        (None, b"<?xml version='1.0'?><rss><channel></channel></rss>", False),
        (None, b"just some text", False),
        ("", b"", False),
    ],
)
def test_is_html(content_type: str | None, body: bytes, expected: bool) -> None:
    assert is_html(content_type, body) is expected


# --- the benchmark data -------------------------------------------------------------------------

BENCHMARK = Path(__file__).parent / "data" / "extraction-benchmark"  # 8 pages of the set
# pages with the leftovers this module removes: "DON'T MISS" link blocks, share prompts, reprint
# boxes, hover cards of related links, newsletter plugs, "Read more" teasers
BENCHMARK_PAGES = [
    "ba4dfe2d3e817ff7b8b01172ccc307850fc5469bcdd26c3c48ca046cb88ab7cf",
    "624fcd903d56fc7055fa7097b330629450c095ad6937318deb027be7803bbf35",
    "4a44ab3e4c41d56ce9b79eb07acb06aed1bc52aba68a950f06e7de7ef848400a",
    "f8ff621a0b9b7646cc0d57d37416feabba2bf78ef5dd0bfc5b080f9f97bbe584",
    "6ebac05f637ece8aa57c298a2a5e3a8047f546f855d0f29cc683cea60ce85c85",
    "686bb170effe273eaff1c0f88e412172e8d972518a6d1454c896f52aafaa9643",
    "55bb6340e3d7dd8632ba45179ae43c39f8ad0cfcecb4719e3b9cf6106ffb70a3",
    "360c732d1fdbfc6895d7096c0c0b8c0d581bb1af80160f4c6a0f1fd9ff85e469",
]
F1_FLOOR = 0.9


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """bench/extraction.py, which holds the benchmark's metric (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_extraction", REPO_ROOT / "bench" / "extraction.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_metric_matches_the_benchmark_definition(bench: ModuleType) -> None:
    assert bench.score("a b c d e", "a b c d e").f1 == 1.0
    assert bench.score("", "a b c d").f1 == 0.0
    # "a b c" is one short shingle; shingles are multisets, case is kept
    assert bench.shingles("a b c") == {"a b c": 1}
    assert bench.shingles("x y z w x y z w") == {
        "x y z w": 2,
        "y z w x": 1,
        "z w x y": 1,
        "w x y z": 1,
    }
    assert bench.score("A b c d", "a b c d").tp == 0.0
    page = bench.score("a b c d e f", "a b c d e")  # 3 shingles predicted, 2 true, 2 shared
    assert (page.tp, page.fp, page.fn) == pytest.approx((2 / 3, 1 / 3, 0.0))
    scores = bench.summarise([page, bench.score("", "a b c d")])
    assert scores.precision == pytest.approx(2 / 3)  # the empty prediction has no precision
    assert scores.recall == pytest.approx(0.5)


@pytest.mark.parametrize("page_id", BENCHMARK_PAGES, ids=[p[:8] for p in BENCHMARK_PAGES])
def test_benchmark_pages_above_floor(bench: ModuleType, page_id: str) -> None:
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))[page_id]
    html = gzip.decompress((BENCHMARK / "html" / f"{page_id}.html.gz").read_bytes())
    start = time.perf_counter()
    article = extract(html, truth["url"])
    assert time.perf_counter() - start < 2.0
    assert article is not None
    assert bench.score(article.text, truth["articleBody"]).f1 >= F1_FLOOR
