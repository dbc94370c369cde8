"""When to poll a source next: one pure function, and the few facts it needs.

The next poll of a source is data on the source (`sources.next_poll_at` in the state database),
decided here after every poll:

- a source that publishes often is polled more often, a quiet one less, within
  `[min_every, max_every]`: the interval follows the observed gap between new entries
  (an exponentially weighted average, as feed readers do), and stretches while a source stays
  quiet for longer than that gap;
- a feed's own `<ttl>` / `sy:updatePeriod` is a lower bound;
- errors back off exponentially from the base interval up to `max_every`, and a source that keeps
  failing stays scheduled at `max_every`: it is never dropped;
- 429 and 503 answers wait at least their Retry-After, capped at `max_every`.

`plan` is the whole decision: the spider hands it what a poll found (`Poll`) and what the state
database knew of the source (`History`) and records the `PollOutcome` it returns
(`State.record_poll`). Nothing here does I/O or reads the clock, so every case is a table row
(tests/test_schedule.py)::

    outcome = plan(Poll(status=200, new_entries=3), History(), bounds, now=time.time(), jitter=0.1)
    state.record_poll(source_id, outcome)
"""

from __future__ import annotations

import email.utils
import itertools
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Weight of the newest observation in the average gap between new entries.
GAP_WEIGHT = 0.3


@dataclass(frozen=True, slots=True)
class Bounds:
    every: timedelta  # the source's own interval, the starting point
    min_every: timedelta
    max_every: timedelta


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll of a source found."""

    status: int | None  # the HTTP status, None if there was no answer
    error: str | None = None  # why the poll failed; None for a poll that worked
    retry_after: float | None = None  # seconds a 429/503 asked us to wait
    new_entries: int = 0  # entries (or pages) not seen before
    cadence: float | None = None  # the feed's own rhythm from its entries' dates (`cadence`)
    ttl: float | None = None  # seconds the feed says it may be cached
    etag: str | None = None  # validators to keep (None: keep none from this poll)
    last_modified: str | None = None
    name: str | None = None  # the source's own title


@dataclass(frozen=True, slots=True)
class History:
    """What the state database knew of a source before this poll."""

    entry_gap: float | None = None  # average seconds between new entries
    last_new_at: float | None = None  # the last poll with new entries, else the first poll
    error_count: int = 0  # consecutive failed polls before this one
    ttl: float | None = None  # the ttl a past poll found


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """One poll as the state database records it: what it found and when the next one is."""

    status: int | None
    polled_at: float  # Unix seconds
    next_poll_at: float
    error: str | None = None
    new_entries: int = 0
    entry_gap: float | None = None  # the average gap after this poll
    ttl: float | None = None
    etag: str | None = None
    last_modified: str | None = None
    name: str | None = None


def plan(
    poll: Poll,
    history: History,
    bounds: Bounds,
    *,
    now: float,
    jitter: float,
    rng: random.Random | None = None,
) -> PollOutcome:
    """The poll to record, with the time of the next one (`now` plus a jittered interval)."""
    last_new = history.last_new_at
    gap = poll.cadence
    if gap is None:
        gap = updated_gap(history.entry_gap, now - last_new if last_new else None, poll.new_entries)
    quiet_for = 0.0 if poll.new_entries else (now - last_new if last_new else None)
    interval = next_interval(
        bounds,
        entry_gap=gap,
        quiet_for=quiet_for,
        errors=history.error_count + 1 if poll.error else 0,
        retry_after=poll.retry_after,
        ttl=poll.ttl if poll.ttl is not None else history.ttl,
    )
    return PollOutcome(
        status=poll.status,
        polled_at=now,
        next_poll_at=now + jittered(interval, jitter, rng).total_seconds(),
        error=poll.error,
        new_entries=poll.new_entries,
        entry_gap=gap,
        ttl=poll.ttl,
        etag=poll.etag,
        last_modified=poll.last_modified,
        name=poll.name,
    )


def retry_after(value: str | None, now: datetime) -> float | None:
    """A Retry-After header in seconds from `now` (it is a number of seconds or an HTTP date);
    None if absent or unreadable, 0 for a date already past."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_interval(
    bounds: Bounds,
    *,
    entry_gap: float | None,
    quiet_for: float | None,
    errors: int = 0,
    retry_after: float | None = None,
    ttl: float | None = None,
) -> timedelta:
    """The time until the next poll.

    entry_gap: average seconds between new entries, None until observed.
    quiet_for: seconds since the last new entry, None if there never was one.
    errors: consecutive failed polls, including this one.
    retry_after: seconds the server asked us to wait (429/503 Retry-After).
    ttl: seconds the feed says it may be cached (`<ttl>`, `sy:updatePeriod`).
    """
    low, high = bounds.min_every.total_seconds(), bounds.max_every.total_seconds()
    if errors > 0:
        seconds = bounds.every.total_seconds() * 2 ** min(errors, 20)
    elif entry_gap is None:
        seconds = bounds.every.total_seconds()
    else:
        seconds = max(entry_gap, (quiet_for or 0.0) / 2)
    seconds = min(max(seconds, low), high)
    if ttl is not None:
        seconds = max(seconds, min(ttl, high))
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, high))
    return timedelta(seconds=seconds)


def updated_gap(
    entry_gap: float | None, since_last_new: float | None, new_entries: int
) -> float | None:
    """The average gap between new entries after a poll that found `new_entries`."""
    if new_entries <= 0 or since_last_new is None:
        return entry_gap
    observed = since_last_new / new_entries
    if entry_gap is None:
        return observed
    return (1 - GAP_WEIGHT) * entry_gap + GAP_WEIGHT * observed


def jittered(
    interval: timedelta, fraction: float = 0.1, rng: random.Random | None = None
) -> timedelta:
    """The interval moved by up to ±fraction, so sources added together do not poll together."""
    spread = interval.total_seconds() * fraction
    return timedelta(
        seconds=max(0.0, interval.total_seconds() + (rng or random).uniform(-spread, spread))
    )


def cadence(published: list[float]) -> float | None:
    """A feed's own publishing rhythm: the median gap, in seconds, between the dates of its
    entries (its most recent ones; the median ignores one old entry left at the bottom).
    None with fewer than two distinct dates."""
    dates = sorted(set(published))
    if len(dates) < 2:
        return None
    return statistics.median(later - earlier for earlier, later in itertools.pairwise(dates))
