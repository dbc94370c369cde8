"""Cluster mode: several `crawler run` workers, on one machine or many, sharing one Redis.

Without a `[cluster]` section crawler is the embedded single-process program: nothing here
imports redis. With one, what the workers must agree on lives in Redis, each part next to the
single-mode code it stands in for:

- `state.ClusterState` is the `State` the spider and pipelines use: seen URLs and feed entries,
  fingerprints (claimed atomically, so two workers fetching one story queue it once), the
  near-duplicate index and each source's schedule and validators are shared; the rest (archive,
  items) stays in the worker's own SQLite file.
- `outbox.SharedOutbox`: the alert outbox and the also-reported lists, so any worker sends what
  any worker queued, one worker at a time (`outbox.SendLock`).
- `neardup.SharedNearDuplicateIndex`: datasketch's MinHash LSH on Redis storage.
- `leases.Leases`: which worker polls which source, and the registry of live workers.
- `frontier`: scrapy-redis's scheduler for article requests, so any worker fetches any article,
  and a per-host pace shared by all workers.

`open_state` is the one place where single or cluster mode is chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.errors import SettingsError
from crawler.state import State

if TYPE_CHECKING:
    from crawler.config import Settings

_CLIENTS: dict[str, Any] = {}


def open_state(config: Settings, path: str | Path | None = None) -> State:
    """The state this process works with: the SQLite file alone, or with Redis in cluster mode."""
    path = config.output.state_path if path is None else path
    if config.cluster is None:
        return State(path)
    from crawler.cluster.state import ClusterState

    return ClusterState(path, redis_client(config), config.cluster)


def report_state(config: Settings) -> State:
    """The state a report reads (`crawler status`, `crawler queue show`): the database, or in
    cluster mode what Redis holds, with an empty database in memory for the rest, so a report
    leaves no worker files behind."""
    if config.cluster is None:
        return State(config.output.state_path)
    return open_state(config, ":memory:")


def redis_client(config: Settings) -> Any:
    """The process's Redis client for `cluster.redis` (one connection pool per URL).

    An unreachable server at start is a settings problem: SettingsError naming `cluster.redis`.
    Later, commands are retried with back-off for a while before an error reaches the caller.
    """
    assert config.cluster is not None
    url = config.cluster.redis
    client = _CLIENTS.get(url)
    if client is not None:
        return client
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        url,
        socket_timeout=10,
        socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise SettingsError(
            config.path, "cluster.redis", f"cannot reach Redis at {url}: {exc}"
        ) from None
    _CLIENTS[url] = client
    return client


__all__ = ["open_state", "redis_client", "report_state"]
