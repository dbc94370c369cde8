"""Which dates may drop an article, and pages with control-character references, through
`crawler once` against a local server: a section page ([[sites]]), a sitemap and a feed.

Only a date stated as the date of publication and precise to the day (the feed entry's,
JSON-LD datePublished, a publication <meta>, a <time> in the article) makes a page too old
for `fetch.max_age`; a year in the URL or the footer never does.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import datetime
from html import escape
from typing import Any

import pytest

from support.localsite import LocalSite
from support.pages import ago, rss
from support.runner import base_settings, run_crawler

WORDS = [
    "harbour",
    "council",
    "ferry",
    "mill",
    "grain",
    "river",
    "bridge",
    "market",
    "tide",
    "school",
    "winter",
    "orchard",
    "museum",
    "station",
    "railway",
    "engineer",
    "trust",
    "volunteer",
    "budget",
    "timber",
    "quarry",
    "lighthouse",
    "festival",
    "choir",
    "library",
    "clinic",
    "bakery",
    "meadow",
    "valley",
    "tunnel",
    "canal",
    "barge",
    "pier",
    "beacon",
    "archive",
    "mayor",
    "farmer",
    "shepherd",
    "vineyard",
    "brewery",
    "foundry",
    "forge",
    "weaver",
    "potter",
    "carpenter",
    "mason",
    "painter",
    "sculptor",
    "teacher",
    "nurse",
    "doctor",
    "pilot",
    "sailor",
    "fisherman",
    "harvest",
    "drought",
    "flood",
    "storm",
    "frost",
    "thaw",
    "spring",
    "summer",
    "autumn",
    "village",
    "town",
    "county",
    "island",
    "coast",
    "cliff",
    "dune",
    "marsh",
    "forest",
    "hill",
    "ridge",
    "moor",
]
CONTROL_REFERENCES = ["&#11;", "&#1;", "&#12;", "&#27;", "&#31;", "&#xFFFE;"]
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def story(seed: int) -> list[str]:
    """Three paragraphs of a story of its own (no two seeds make near-duplicates)."""
    pick = random.Random(seed)
    return [" ".join(pick.choice(WORDS) for _ in range(45)).capitalize() + "." for _ in range(3)]


def page(title: str, seed: int, *, head: str = "", before: str = "", inline: str = "") -> str:
    """An article page without any date unless `head` or `before` (at the top of the article)
    adds one; `inline` goes into the middle of the first paragraph. The footer names a year."""
    first, *rest = story(seed)
    half = len(first) // 2
    paragraphs = [first[:half] + inline + first[half:], *rest]
    body = "".join(f"<p>{escape(p) if not inline else p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f" | The Valley Post</title>{head}</head><body><header><h1>The Valley Post</h1></header>"
        f"<main><article><h1>{escape(title)}</h1>{before}{body}</article></main>"
        "<footer>Copyright 2026 The Valley Post. All rights reserved.</footer></body></html>"
    )


def json_ld(published: datetime) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle"}
    data["datePublished"] = published.isoformat()
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


OLD = ago(24 * 10)  # older than max_age (2 days)
SECTION_PAGES: dict[str, dict[str, Any]] = {
    "/world/2026/undated.html": {"title": "Undated under a year path"},
    "/world/2026/01/15/url-dated.html": {"title": "Dated only by its URL"},
    "/world/2026/year-meta.html": {
        "title": "A year alone in its date tag",
        "head": '<meta name="date" content="2019">',
    },
    "/world/2026/fresh.html": {"title": "Published this morning", "head": json_ld(ago(3))},
    "/world/2026/old-json-ld.html": {"title": "Old by its JSON-LD", "head": json_ld(OLD)},
    "/world/2026/old-meta.html": {
        "title": "Old by its meta tag",
        "head": f'<meta property="article:published_time" content="{OLD.isoformat()}">',
    },
    "/world/2026/old-time.html": {
        "title": "Old by its time element",
        "before": f'<time datetime="{OLD.date().isoformat()}">{OLD:%d %B %Y}</time>',
    },
    **{
        f"/world/2026/control-{index}.html": {
            "title": f"Control reference {reference[2:-1]}",
            "inline": reference,
        }
        for index, reference in enumerate(CONTROL_REFERENCES)
    },
}
SITEMAP_PAGE = "/archive/2026/undated.html"
FEED_PAGES = {
    "/news/2026/feed-old.html": ("Old in the feed", OLD),
    "/news/2026/feed-new.html": ("New in the feed", ago(2)),
}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSite, dict, str]]:
    """One `crawler once` over the section page and the feed; the items queued by title."""
    tmp_path = tmp_path_factory.mktemp("dates")
    with LocalSite() as site:
        links = "".join(f'<a href="{path}">{path}</a>' for path in SECTION_PAGES)
        site.route("/world/", f"<html><body>{links}</body></html>")
        for seed, (path, spec) in enumerate(SECTION_PAGES.items()):
            site.route(path, page(seed=seed, **spec))
        entries = []
        for seed, (path, (title, published)) in enumerate(FEED_PAGES.items(), start=100):
            # the page's own old date does not count against the feed's
            site.route(path, page(title, seed, head=json_ld(OLD)))
            entries.append(
                {"title": title, "link": site.url(path), "guid": path, "published": published}
            )
        site.route("/feed.xml", rss("The Valley Post", entries), "application/rss+xml")
        site.route(SITEMAP_PAGE, page("Undated in the sitemap", 200))
        site.route(
            "/sitemap.xml",
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{site.url(SITEMAP_PAGE)}</loc></url></urlset>",
            "application/xml",
        )
        settings = tmp_path / "crawler.toml"
        settings.write_text(
            base_settings(tmp_path, site)
            + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
            + f'[[sitemaps]]\nurl = "{site.url("/sitemap.xml")}"\n'
            + f"[[sites]]\nstart = \"{site.url('/world/')}\"\nallow = ['/world/\\d{{4}}/']\n",
            encoding="utf-8",
        )
        result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        new = tmp_path / "out" / "queue" / "new"
        items = [json.loads(path.read_text("utf-8")) for path in new.glob("*.json")]
        yield site, {item["title"]: item for item in items}, result.stderr


def test_an_undated_article_under_a_year_path_on_a_section_page_is_queued(crawled) -> None:
    _, items, _ = crawled
    item = items["Undated under a year path"]
    assert item["published_source"] in (None, "text")


def test_an_undated_article_in_a_sitemap_is_queued(crawled) -> None:
    _, items, _ = crawled
    assert items["Undated in the sitemap"]["published_source"] in (None, "text")


def test_a_date_read_from_the_url_is_kept_but_drops_nothing(crawled) -> None:
    _, items, _ = crawled
    item = items["Dated only by its URL"]  # 2026-01-15: far older than max_age
    assert item["published"].startswith("2026-01-15")
    assert item["published_source"] == "url"


def test_a_date_tag_without_a_day_drops_nothing(crawled) -> None:
    _, items, _ = crawled
    assert items["A year alone in its date tag"]["published_source"] != "meta"


def test_a_recent_page_records_where_its_date_came_from(crawled) -> None:
    _, items, _ = crawled
    assert items["Published this morning"]["published_source"] == "json-ld"
    assert items["New in the feed"]["published_source"] == "feed"


@pytest.mark.parametrize(
    "path",
    ["/world/2026/old-json-ld.html", "/world/2026/old-meta.html", "/world/2026/old-time.html"],
)
def test_a_publication_date_stated_on_the_page_still_drops_an_old_article(
    crawled, path: str
) -> None:
    site, items, _ = crawled
    assert site.hits(path) == 1  # fetched, read, dropped as too old
    assert SECTION_PAGES[path]["title"] not in items


def test_a_feed_date_older_than_max_age_drops_a_page_dated_only_by_its_url_year(crawled) -> None:
    site, items, _ = crawled
    assert "Old in the feed" not in items
    assert site.hits("/news/2026/feed-old.html") == 0  # never fetched


@pytest.mark.parametrize("reference", CONTROL_REFERENCES)
def test_a_control_character_reference_does_not_lose_the_article(crawled, reference) -> None:
    _, items, stderr = crawled
    item = items[f"Control reference {reference[2:-1]}"]
    assert not CONTROL.search(item["text"]) and not CONTROL.search(item["title"])
    assert len(item["text"].split()) > 100
    assert "extraction failed" not in stderr
