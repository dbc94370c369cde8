"""The decision trail's storage: one row per URL, found by its final or canonical URL too,
counted by outcome since a time, purged before one; the same in SQLite and in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.cluster import open_state
from crawler.config import load_settings
from crawler.state import State

A, A_FINAL, A_CANONICAL = "https://e.org/a", "https://e.org/a?x=1", "https://e.org/story"


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    if request.param == "sqlite":
        with State(tmp_path / "state.db") as sqlite_state:
            yield sqlite_state
        return
    url = request.getfixturevalue("redis_url")
    path = tmp_path / "crawler.toml"
    path.write_text(f'[output]\ndir = "{tmp_path}"\n[cluster]\nredis = "{url}"\n')
    with open_state(load_settings(str(path)), ":memory:") as cluster_state:
        yield cluster_state


def test_a_decision_is_found_by_each_of_its_urls_and_replaced(state: State) -> None:
    assert state.decision(A) is None
    state.record_decision(A, "off-topic", {"seen": {"via": "feed entry"}}, now=100.0)
    state.record_decision(
        A,
        "queued",
        {"queued": {"item_id": "01J"}},
        final_url=A_FINAL,
        canonical_url=A_CANONICAL,
        now=200.0,
    )
    for url in (A, A_FINAL, A_CANONICAL):
        trail = state.decision(url)
        assert trail == {
            "queued": {"item_id": "01J"},
            "decided_at": 200.0,
            "outcome": "queued",
            "detail": None,
        }, url
    # a copy naming the same canonical URL does not hide the queued page
    state.record_decision("https://e.org/amp", "duplicate-url", {}, canonical_url=A_CANONICAL)
    assert state.decision(A_CANONICAL)["outcome"] == "queued"  # type: ignore[index]
    assert state.decision("https://e.org/amp")["outcome"] == "duplicate-url"  # type: ignore[index]


def test_counts_by_outcome_since_and_purge_before(state: State) -> None:
    state.record_decision("https://e.org/1", "too-old", {}, now=100.0)
    state.record_decision("https://e.org/2", "too-old", {}, now=300.0)
    state.record_decision("https://e.org/3", "off-topic", {}, now=300.0)
    state.record_decision("https://e.org/4", "queued", {}, now=300.0)
    state.record_decision("https://e.org/5", "fetch-failed", {}, now=300.0)
    state.record_decision("https://e.org/5", "queued", {}, now=400.0)  # decided again
    assert state.decision_counts(0) == {"queued": 2, "too-old": 2, "off-topic": 1}
    assert state.decision_counts(200.0) == {"queued": 2, "off-topic": 1, "too-old": 1}
    assert state.purge_decisions(200.0) == 1
    assert state.decision("https://e.org/1") is None
    assert state.decision("https://e.org/2") is not None
    assert state.decision_counts(0) == {"queued": 2, "off-topic": 1, "too-old": 1}
