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
"""

from __future__ import annotations

import itertools
import random
import statistics
from dataclasses import dataclass
from datetime import timedelta

# Weight of the newest observation in the average gap between new entries.
GAP_WEIGHT = 0.3


@dataclass(frozen=True, slots=True)
class Bounds:
    every: timedelta  # the source's own interval, the starting point
    min_every: timedelta
    max_every: timedelta


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
