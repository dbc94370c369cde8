"""When a source is polled next (crawler/schedule.py): the policy as a table of cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from crawler.schedule import Bounds, History, Poll, plan, retry_after

NOW = 1_800_000_000.0
MINUTE, HOUR = 60.0, 3600.0
# every 10 minutes, never more often than each minute, never less than every 6 hours
BOUNDS = Bounds(timedelta(minutes=10), timedelta(minutes=1), timedelta(hours=6))

CASES = [
    # (what, poll, history, seconds until the next poll)
    ("first success: the source's own interval", Poll(status=200), History(), 10 * MINUTE),
    ("first 304: the source's own interval", Poll(status=304), History(), 10 * MINUTE),
    (
        "new entries: the gap moves towards the observed one",
        Poll(status=200, new_entries=2),
        History(entry_gap=20 * MINUTE, last_new_at=NOW - 60 * MINUTE),
        0.7 * 20 * MINUTE + 0.3 * 30 * MINUTE,
    ),
    (
        "304 shortly after new entries: the average gap",
        Poll(status=304),
        History(entry_gap=20 * MINUTE, last_new_at=NOW - 5 * MINUTE),
        20 * MINUTE,
    ),
    (
        "a quiet source stretches to half its silence",
        Poll(status=304),
        History(entry_gap=20 * MINUTE, last_new_at=NOW - 3 * HOUR),
        1.5 * HOUR,
    ),
    (
        "the feed's own cadence wins over the observed gap",
        Poll(status=200, new_entries=1, cadence=2 * HOUR),
        History(entry_gap=20 * MINUTE, last_new_at=NOW - 20 * MINUTE),
        2 * HOUR,
    ),
    (
        "clamped to min_every",
        Poll(status=200, new_entries=5),
        History(entry_gap=10.0, last_new_at=NOW - 10.0),
        MINUTE,
    ),
    (
        "clamped to max_every",
        Poll(status=304),
        History(entry_gap=HOUR, last_new_at=NOW - 30 * 24 * HOUR),
        6 * HOUR,
    ),
    (
        "ttl is a lower bound",
        Poll(status=200, ttl=2 * HOUR),
        History(entry_gap=20 * MINUTE, last_new_at=NOW - 5 * MINUTE),
        2 * HOUR,
    ),
    (
        "a ttl found earlier still counts",
        Poll(status=304),
        History(entry_gap=20 * MINUTE, last_new_at=NOW - 5 * MINUTE, ttl=HOUR),
        HOUR,
    ),
    (
        "a ttl beyond max_every is capped",
        Poll(status=200, ttl=48 * HOUR),
        History(),
        6 * HOUR,
    ),
    (
        "a ttl shorter than the interval changes nothing",
        Poll(status=200, ttl=MINUTE),
        History(),
        10 * MINUTE,
    ),
    ("first error: twice the interval", Poll(status=500, error="HTTP 500"), History(), 20 * MINUTE),
    (
        "third error in a row: eight times",
        Poll(status=None, error="timeout"),
        History(error_count=2),
        80 * MINUTE,
    ),
    (
        "errors back off up to max_every, never further",
        Poll(status=None, error="timeout"),
        History(error_count=400),
        6 * HOUR,
    ),
    (
        "errors ignore the entry gap",
        Poll(status=500, error="HTTP 500"),
        History(entry_gap=MINUTE, last_new_at=NOW - MINUTE),
        20 * MINUTE,
    ),
    (
        "a success after errors resets the back-off",
        Poll(status=200),
        History(error_count=5),
        10 * MINUTE,
    ),
    (
        "429 waits its Retry-After",
        Poll(status=429, error="HTTP 429", retry_after=3 * HOUR),
        History(),
        3 * HOUR,
    ),
    (
        "503 with a short Retry-After still backs off",
        Poll(status=503, error="HTTP 503", retry_after=30.0),
        History(),
        20 * MINUTE,
    ),
    (
        "a Retry-After beyond max_every is capped",
        Poll(status=429, error="HTTP 429", retry_after=30 * 24 * HOUR),
        History(),
        6 * HOUR,
    ),
]


@pytest.mark.parametrize(
    ("poll", "history", "seconds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_next_poll(poll: Poll, history: History, seconds: float) -> None:
    outcome = plan(poll, history, BOUNDS, now=NOW, jitter=0.0)
    assert outcome.next_poll_at - NOW == pytest.approx(seconds)
    assert outcome.polled_at == NOW
    assert (outcome.status, outcome.error, outcome.new_entries) == (
        poll.status,
        poll.error,
        poll.new_entries,
    )


def test_the_outcome_keeps_what_the_poll_found() -> None:
    poll = Poll(status=200, new_entries=3, ttl=HOUR, etag='"v2"', last_modified="x", name="Wire")
    outcome = plan(poll, History(entry_gap=HOUR, last_new_at=NOW - HOUR), BOUNDS, now=NOW, jitter=0)
    assert (outcome.etag, outcome.last_modified, outcome.name, outcome.ttl) == (
        '"v2"',
        "x",
        "Wire",
        HOUR,
    )
    assert outcome.entry_gap == pytest.approx(0.7 * HOUR + 0.3 * HOUR / 3)


def test_a_poll_without_news_keeps_the_gap() -> None:
    outcome = plan(Poll(status=304), History(entry_gap=HOUR), BOUNDS, now=NOW, jitter=0.0)
    assert outcome.entry_gap == HOUR


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5])
def test_jitter_stays_within_its_fraction(jitter: float) -> None:
    rng = random.Random(7)
    waits = [
        plan(Poll(status=200), History(), BOUNDS, now=NOW, jitter=jitter, rng=rng).next_poll_at
        - NOW
        for _ in range(2000)
    ]
    low, high = 10 * MINUTE * (1 - jitter), 10 * MINUTE * (1 + jitter)
    assert all(low <= wait <= high for wait in waits)
    if jitter:  # spread over the range, not stuck at one end
        assert min(waits) < 10 * MINUTE * (1 - jitter / 2) and max(waits) > 10 * MINUTE * (
            1 + jitter / 2
        )


CLOCK = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

RETRY_AFTER = [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("0", 0.0),
    (format_datetime(CLOCK + timedelta(minutes=90), usegmt=True), 5400.0),
    ("Mon, 01 Mar 2027 13:00:00 GMT", 3600.0),
    ("Mon, 01 Mar 2027 11:00:00 GMT", 0.0),  # already past: no wait beyond the back-off
    ("Mon, 01 Mar 2027 13:00:00 -0000", 3600.0),  # a date without a zone is UTC
    ("soon", None),
    ("-5", None),
    ("1.5", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("header", "seconds"), RETRY_AFTER)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, CLOCK) == seconds
