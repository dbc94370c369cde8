"""The feed adapter: every format into one model, and clear errors for what is not a feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.sources.feeds import FeedError, entry_digest, new_entries, parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>The Courier</title><link>https://courier.example/</link>
<item><title>First</title><link>/news/first?utm_source=rss</link><guid>c-1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><description>&lt;p&gt;A &lt;b&gt;short&lt;/b&gt; summary&lt;/p&gt;</description></item>
<item><title>No date</title><link>https://courier.example/news/second</link></item>
<item><title>Far future</title><link>https://courier.example/news/third</link>
<pubDate>Sat, 01 Jan 2200 00:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Herald</title>
<entry><title>Story</title><id>tag:herald.example,2026:1</id>
<link rel="alternate" href="https://herald.example/story/1"/>
<updated>2026-11-24T08:30:00Z</updated><author><name>A. Writer</name></author>
<summary>Summary text</summary></entry></feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="https://old.example/"><title>Old</title><link>https://old.example/</link></channel>
<item rdf:about="https://old.example/a"><title>A</title><link>https://old.example/a</link></item>
</rdf:RDF>"""

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Ninety-one</title>
<item><title>A</title><link>https://n.example/a</link></item></channel></rss>"""


def test_rss2() -> None:
    feed = parse_feed(RSS, "https://courier.example/rss.xml", "application/rss+xml")
    assert feed.title == "The Courier"
    first, no_date, future = feed.entries
    assert first.key == "c-1" or first.key.endswith("c-1")
    assert first.link == "https://courier.example/news/first?utm_source=rss"
    assert first.summary == "A short summary"
    assert first.published == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert no_date.key == "https://courier.example/news/second" and no_date.published is None
    assert future.published is None  # a date centuries ahead is unknown, not newest


def test_atom() -> None:
    (entry,) = parse_feed(ATOM, "https://herald.example/atom.xml").entries
    assert entry.key == "tag:herald.example,2026:1"
    assert entry.link == "https://herald.example/story/1"
    assert entry.author == "A. Writer"
    assert entry.published == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("body", [RDF, RSS091])
def test_older_rss_versions(body: bytes) -> None:
    (entry,) = parse_feed(body, "https://x.example/feed").entries
    assert entry.link and entry.link.endswith("/a")


def test_json_feed() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "JSON outlet",
            "items": [
                {
                    "id": "j1",
                    "url": "https://json.example/a",
                    "title": "A",
                    "content_html": "<p>Body</p>",
                    "date_published": "2026-11-24T10:00:00Z",
                    "authors": [{"name": "J. Son"}],
                }
            ],
        }
    ).encode()
    feed = parse_feed(body, "https://json.example/feed.json", "application/feed+json")
    (entry,) = feed.entries
    assert (feed.title, entry.key, entry.link, entry.author) == (
        "JSON outlet",
        "j1",
        "https://json.example/a",
        "J. Son",
    )
    assert entry.summary == "Body"
    assert entry.published == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty response"),
        (b"   \n", "empty response"),
        (b"<!DOCTYPE html><html><body><p>Hello</p></body></html>", "HTML page"),
        (b"\x00\x01\x02garbage", "not a feed"),
        (b'{"not": "a feed"}', "not a feed"),
    ],
)
def test_not_a_feed(body: bytes, reason: str) -> None:
    with pytest.raises(FeedError, match=reason):
        parse_feed(body, "https://x.example/feed")


def test_a_malformed_feed_still_yields_its_entries() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>Unclosed")  # bozo
    feed = parse_feed(broken, "https://courier.example/rss.xml")
    assert [e.title for e in feed.entries][:3] == ["First", "No date", "Far future"]


def test_entries_without_id_or_link_get_a_stable_key() -> None:
    body = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>Only a title</title><description>and text</description></item></channel></rss>"""
    one = parse_feed(body, "https://x.example/feed").entries[0]
    two = parse_feed(body, "https://x.example/feed").entries[0]
    assert one.link is None and one.key == two.key and one.key.startswith("sha256:")


@pytest.mark.parametrize(
    ("channel", "seconds"),
    [
        ("<ttl>60</ttl>", 3600.0),
        (
            "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
            1800.0,
        ),
        ("<sy:updatePeriod>daily</sy:updatePeriod>", 86400.0),
        ("<ttl>soon</ttl>", None),
        ("", None),
    ],
)
def test_feed_ttl(channel: str, seconds: float | None) -> None:
    body = (
        '<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>'
        f"<title>t</title>{channel}<item><title>a</title><link>https://t.example/a</link></item>"
        "</channel></rss>"
    ).encode()
    assert parse_feed(body, "https://t.example/feed").ttl == seconds


def test_a_lying_charset_and_control_characters_do_not_break_a_feed() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>Caf\xe9 \x07bell\x1b[31m</title><link>https://t.example/a</link></item>"
        "</channel></rss>"
    ).encode("latin-1")  # declared utf-8, sent latin-1
    (entry,) = parse_feed(body, "https://t.example/feed").entries
    assert entry.link == "https://t.example/a"
    assert entry.title is not None and "bell" in entry.title


def test_relative_links_and_xml_base_are_made_absolute() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://other.example/news/">
    <title>T</title><entry><title>a</title><id>1</id><link href="story/1"/></entry></feed>"""
    (entry,) = parse_feed(body, "https://t.example/atom.xml").entries
    assert entry.link == "https://other.example/news/story/1"


def test_new_entries_leaves_out_the_seen_and_those_past_the_limit() -> None:
    url = "https://courier.example/rss.xml"
    keys = [e.key for e in parse_feed(RSS, url).entries]
    found = new_entries(RSS, url, None, frozenset({entry_digest(keys[0])}), 1)
    assert [e.key for e in found.feed.entries] == [keys[1]]  # the first unseen, up to the limit
    assert (found.seen, found.left_out) == (1, 1)
    assert found.feed.title == "The Courier"
    assert found.dates == [datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp()]  # of every entry
    everything = new_entries(RSS, url, None, frozenset(), 10)
    assert [e.key for e in everything.feed.entries] == keys and everything.left_out == 0
