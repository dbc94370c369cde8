"""Every Redis key crawler uses, all under one prefix (`cluster.prefix`, written `<p>` here).

Sources and what was seen (`cluster/state.py`):

    <p>:urls                 hash  normalised URL -> outcome (seen URLs, as `seen_urls`)
    <p>:entries:<source id>  set   feed entry keys seen (as `seen_entries`)
    <p>:url-times            zset  URL -> when first seen (for forgetting, see `forget_seen`)
    <p>:entry-times:<id>     zset  entry key -> when first seen
    <p>:listed:<id>:<part>   set   what one part of a source listed at its last poll
    <p>:listings             set   the names of those sets
    <p>:listed-all           set   their union, made at each sweep
    <p>:fp:<hash>            str   JSON {"item", "url"} (a fingerprint row) or {"claim", "url"}
    <p>:items                str   how many items the cluster queued
    <p>:source-ids           hash  source URL -> id, the same on every worker
    <p>:source-seq           str   the last source id given
    <p>:source:<id>          str   JSON of the source row: validators, schedule, errors
    <p>:meta                 hash  shared state values, e.g. `digest:<topic>`
    <p>:alive:<worker>       str   present while the worker lives (expires after cluster.lease)
    <p>:inflight:<url>       str   worker fetching an article now (see `claim_request`)

The decision trail (`cluster/state.py`, `crawler explain`; expires after 30 days):

    <p>:decision:<url>       str   JSON {"decided_at", "outcome", "detail", "final_url",
                                   "canonical_url", "trail"} of the page requested as <url>
    <p>:decision-of:<url>    str   the requested URL whose decision a final or canonical URL is
    <p>:decided:<outcome>    zset  requested URL -> when decided, for the counts by reason
    <p>:decided-reasons      set   the outcomes that have a `decided:` zset

Leases and workers (`cluster/leases.py`):

    <p>:lease:<source key>   str   the worker polling that source (expires after cluster.lease)
    <p>:workers              hash  worker -> JSON heartbeat, pid, host, sources, pages/min

The frontier (`cluster/frontier.py`, scrapy-redis): `<p>:frontier` (zset of requests).

Near duplicates (`cluster/neardup.py`):

    <p>:lsh...               datasketch's bucket and key tables (basename `<p>:lsh`)
    <p>:near:values          hash  key -> MinHash values, to verify candidates
    <p>:near:exact:<digest>  str   the first key with this exact signature (short bodies)
    <p>:near:exact-of        hash  key -> digest, to forget a key
    <p>:near:times           zset  key -> when it was added, for `dedup.keep`
    <p>:near:facts           hash  key -> the body's facts (`Facts.to_bytes`), for the check
    <p>:near:lock            str   the lock around a lookup-and-insert

Alerts (`cluster/outbox.py`):

    <p>:outbox:seq           str   the last row id given
    <p>:outbox:ids           hash  JSON [topic, item, recipient] -> row id (inserts are idempotent)
    <p>:outbox:row:<id>      hash  the row's fields (a missing field is None)
    <p>:outbox:pending       zset  row id -> next attempt time (0: due now)
    <p>:outbox:sent          zset  row id -> when sent
    <p>:outbox:failed        zset  row id -> when it failed
    <p>:also:<item id>       hash  URL -> JSON {"source", "seen_at"} (expires after a month)
    <p>:also-recent          zset  item id -> last time a copy was found
    <p>:title:<item id>      str   the item's title, for `crawler status` (expires after a month)
    <p>:sending              str   the worker sending alerts now (the send lock)
"""

from __future__ import annotations


class Keys:
    """Every Redis key crawler uses, under one prefix: `Keys("crawler")("lease", 3)` is
    `"crawler:lease:3"`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])
