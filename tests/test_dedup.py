"""URL normalisation rules and body fingerprints."""

from __future__ import annotations

import pytest

from crawler.dedup import content_hash, normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # scheme and host case
        ("HTTP://Example.ORG/News/A", "http://example.org/News/A"),
        # default ports
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        # tracking parameters
        ("https://example.org/a?utm_source=rss&utm_medium=feed", "https://example.org/a"),
        ("https://example.org/a?fbclid=IwAR0", "https://example.org/a"),
        ("https://example.org/a?gclid=abc&id=7", "https://example.org/a?id=7"),
        ("https://example.org/a?mc_cid=1&mc_eid=2", "https://example.org/a"),
        # fragments
        ("https://example.org/a#comments", "https://example.org/a"),
        # query order
        ("https://example.org/a?b=2&a=1", "https://example.org/a?a=1&b=2"),
        # empty path
        ("https://example.org", "https://example.org/"),
        # surrounding space
        ("  https://example.org/a  ", "https://example.org/a"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalized_urls_are_stable() -> None:
    once = normalize_url("HTTPS://Example.org:443/a?utm_campaign=x&z=1&a=2#top")
    assert normalize_url(once) == once


def test_content_hash_ignores_case_accents_space_and_punctuation() -> None:
    a = "Cargo ships crossed the Caspian.\n\nOfficials said — “nothing unusual”."
    b = "cargo ships  crossed the caspian officials said nothing unusual"
    assert content_hash(a) == content_hash(b)
    assert content_hash("Café") == content_hash("cafe")


def test_content_hash_differs_for_different_words() -> None:
    assert content_hash("ships crossed the sea") != content_hash("ships crossed the lake")
