"""The duplicate decision of crawler/dedup.py on a real state database: what is merged, what is
not, what a drop says, and that a restart or a reload keeps the same answers."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.config import DedupSettings
from crawler.dedup import Deduplicator
from crawler.extract import Article
from crawler.items import Page, Rejected
from crawler.neardup import Signature, signature
from crawler.sources import SourceRef
from crawler.state import ItemRecord, State

from support.bulletins import bulletin_families, wire_copies

FAMILY = bulletin_families(random.Random(3), per_family=3)["earthquake"]
QUAKE = FAMILY[0]


def page(url: str, title: str, text: str, canonical: str | None = None) -> Page:
    article = Article(url, canonical, title, None, None, "en", None, text)
    return Page(
        url=url,
        requested_url=url,
        status=200,
        content_type="text/html",
        body=b"",
        source=SourceRef("feed", "http://127.0.0.1/feed.xml", "Feed"),
        fetched_at=datetime.now(UTC),
        article=article,
    )


def accept(dedup: Deduplicator, p: Page, *, queued: bool = True) -> None:
    """Check a page that must pass, and record it as the pipelines would: queued as an item, or
    dropped by a later rule (off-topic)."""
    dedup.check(p)
    item = None
    if queued:
        item = ItemRecord(f"item-{p.url}", p.url, None, None, "Feed", None, None, p.content_hash)
    outcome = "queued" if queued else "off-topic"
    dedup.state.record_article(
        urls=[p.url], outcome=outcome, content_hash=p.content_hash, item=item
    )


def test_a_version_of_an_article_that_was_not_queued_is_judged_on_its_own(state: State) -> None:
    """An off-topic body is no story to merge into: a near copy of it (say the full page after an
    AMP page that lost the topic's words) goes on to the topics instead of being dropped."""
    dedup = Deduplicator(state, DedupSettings())
    _kind, copy = wire_copies(QUAKE, random.Random(1))[0]
    accept(dedup, page("http://a.example/amp", QUAKE.title, QUAKE.text), queued=False)
    dedup.check(page("http://b.example/full", copy.title, copy.text))  # not a Rejected


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State(tmp_path / "state.db")


def test_bulletins_of_one_template_pass_and_a_copy_is_dropped_with_its_facts(
    state: State,
) -> None:
    dedup = Deduplicator(state, DedupSettings())
    for n, bulletin in enumerate(FAMILY):
        accept(dedup, page(f"http://a.example/{n}", bulletin.title, bulletin.text))
    _kind, copy = wire_copies(QUAKE, random.Random(1))[0]  # with a credit line
    with pytest.raises(Rejected) as dropped:
        dedup.check(page("http://b.example/copy", copy.title, copy.text))
    rejected = dropped.value
    assert rejected.outcome == "near-duplicate"
    assert rejected.facts["layer"] == "near"
    assert rejected.facts["duplicate_url"] == "http://a.example/0"
    assert 0.5 <= rejected.facts["similarity"] < 1.0
    from crawler.fingerprint import facts

    assert rejected.facts["facts_agreed"] == facts(QUAKE.text).to_json()
    json.dumps(rejected.facts)  # JSON-ready for the decision trail

    with pytest.raises(Rejected) as exact:
        dedup.check(page("http://c.example/same", QUAKE.title, QUAKE.text))
    assert exact.value.outcome == "duplicate"
    assert exact.value.facts == {
        "layer": "exact",
        "duplicate_url": "http://a.example/0",
        "similarity": 1.0,
    }


def test_a_restart_checks_the_stored_facts(state: State, tmp_path: Path) -> None:
    first = Deduplicator(state, DedupSettings())
    accept(first, page("http://a.example/0", QUAKE.title, QUAKE.text))
    state.close()
    again = State(tmp_path / "state.db")
    restarted = Deduplicator(again, DedupSettings())
    restarted.load()
    assert len(restarted.index) == 1
    accept(restarted, page("http://a.example/1", FAMILY[1].title, FAMILY[1].text))  # not merged
    _kind, copy = wire_copies(QUAKE, random.Random(2))[2]  # with a byline
    with pytest.raises(Rejected):
        restarted.check(page("http://b.example/copy", copy.title, copy.text))


def test_a_signature_stored_before_facts_were_kept_still_merges(state: State) -> None:
    sig = signature(QUAKE.title, QUAKE.text)
    state.add_signature("old", Signature(hashvalues=sig.hashvalues).to_bytes())
    item = ItemRecord("item-old", "http://a.example/old", None, None, "Feed", None, None, "old")
    state.record_article(
        urls=["http://a.example/old"], outcome="queued", content_hash="old", item=item
    )
    dedup = Deduplicator(state, DedupSettings())
    dedup.load()
    with pytest.raises(Rejected) as dropped:
        dedup.check(page("http://a.example/1", FAMILY[1].title, FAMILY[1].text))
    assert dropped.value.facts["facts_agreed"] is None  # unknown, as before facts were kept


def test_a_canonical_on_another_site_does_not_drop(state: State) -> None:
    dedup = Deduplicator(state, DedupSettings())
    state.mark_urls(["https://www.herald.com/story"], "queued")
    claim = "https://www.herald.com/story"
    dedup.check(page("https://courier.com/x", "t", QUAKE.text, canonical=claim))
    # within one registrable domain the canonical counts
    state.mark_urls(["https://news.courier.co.uk/seen"], "queued")
    own = "https://news.courier.co.uk/seen"
    with pytest.raises(Rejected) as dropped:
        dedup.check(page("https://amp.courier.co.uk/seen", "t", "x", canonical=own))
    assert dropped.value.outcome == "duplicate-url"
    assert dropped.value.facts == {"layer": "url", "duplicate_url": own}


def test_a_reload_with_another_threshold_rebuilds_the_index(state: State) -> None:
    dedup = Deduplicator(state, DedupSettings(keep=timedelta(days=30)))
    for n, bulletin in enumerate(FAMILY):
        accept(dedup, page(f"http://a.example/{n}", bulletin.title, bulletin.text))
    before = dedup.index
    dedup.reloaded(DedupSettings(keep=timedelta(days=1)))
    assert dedup.index is before  # keep alone: used at the next expiry
    dedup.reloaded(DedupSettings(near_threshold=0.9, keep=timedelta(days=1)))
    assert dedup.index is not before and dedup.index.threshold == 0.9
    assert len(dedup.index) == len(FAMILY)
    _kind, copy = wire_copies(QUAKE, random.Random(1))[3]  # last paragraph cut: below 0.9
    dedup.check(page("http://b.example/cut", copy.title, copy.text))


@pytest.mark.parametrize(
    ("page_url", "canonical", "honoured"),
    [
        ("https://amp.courier.co.uk/a", "https://www.courier.co.uk/a", True),
        ("https://courier.com/a", "https://www.herald.com/a", False),
        ("http://127.0.0.1:8080/a", "http://127.0.0.1:9090/a", True),  # one host, one site
        ("http://127.0.0.1:8080/a", "http://localhost:8080/a", False),
        ("https://courier.com/a", "http://[::1", False),  # unparsable: never honoured
        ("https://courier.com/a", "not a url", False),
    ],
)
def test_canonicals_are_honoured_within_a_registrable_domain(
    page_url: str, canonical: str, honoured: bool
) -> None:
    from crawler.dedup import site_canonical

    assert (site_canonical(page_url, canonical) is not None) is honoured
