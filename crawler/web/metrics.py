"""/metrics for Prometheus: a custom collector that reads the state on every scrape.

The daemon keeps its counters in the state database (crawler/counters.py); this process only
reads them, with the queue depth, the alert outbox and the sources' health from `crawler
status`'s report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from crawler.counters import COUNTERS_KEY, extraction_histogram, load_counters
from crawler.web import views

if TYPE_CHECKING:
    from crawler.config import Settings


class StateCollector:
    """Every metric, from one read of the state."""

    def __init__(self, config: Settings) -> None:
        self.config = config

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        with views.reader(self.config) as state:
            report = views.report(self.config, state, now)
            snapshot = load_counters(state.meta(COUNTERS_KEY))
        stats = snapshot["stats"]

        def stat(key: str) -> float:
            return float(stats.get(f"crawler/{key}", 0))

        polls = CounterMetricFamily("crawler_polls", "Source polls by outcome", labels=["outcome"])
        polls.add_metric(["ok"], stat("sources_polled"))
        polls.add_metric(["error"], stat("source_errors"))
        yield polls
        yield CounterMetricFamily(
            "crawler_pages_fetched", "Article pages fetched", value=stat("pages_fetched")
        )
        yield CounterMetricFamily("crawler_items_queued", "Items queued", value=stat("queued"))
        drops = CounterMetricFamily("crawler_drops", "Pages dropped by reason", labels=["reason"])
        for key, value in sorted(stats.items()):
            if key.startswith("crawler/rejected/"):
                drops.add_metric([key.removeprefix("crawler/rejected/")], float(value))
        yield drops
        buckets, total = extraction_histogram(stats)
        yield HistogramMetricFamily(
            "crawler_extract_seconds", "Time to extract one article", buckets, total
        )
        outbox = GaugeMetricFamily(
            "crawler_alert_deliveries", "Alert outbox rows by outcome", labels=["outcome"]
        )
        for outcome in ("pending", "sent", "failed"):
            outbox.add_metric([outcome], float(report["outbox"][outcome]))
        yield outbox
        yield GaugeMetricFamily(
            "crawler_queue_depth",
            "Items waiting in the queue folder's new/",
            value=float(report["queue"]["new"]),
        )
        health = GaugeMetricFamily("crawler_sources", "Sources by health", labels=["health"])
        counts: dict[str, int] = {}
        for source in report["sources"]:
            counts[source["health"]] = counts.get(source["health"], 0) + 1
        for name, count in sorted(counts.items()):
            health.add_metric([name], float(count))
        yield health
        yield GaugeMetricFamily(
            "crawler_sources_failing",
            "Sources with 3 or more errors in a row",
            value=float(counts.get("failing", 0)),
        )
        yield GaugeMetricFamily(
            "crawler_daemon_up",
            "1 when the daemon's heartbeat is fresh",
            value=1.0 if report["daemon"]["running"] else 0.0,
        )
        if snapshot["at"] is not None:
            yield GaugeMetricFamily(
                "crawler_counters_saved_timestamp_seconds",
                "When the daemon last saved its counters",
                value=float(snapshot["at"]),
            )


def exposition(config: Settings) -> bytes:
    """The metrics in Prometheus's text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(config))  # type: ignore[arg-type]
    return generate_latest(registry)
