"""Cluster benchmark: articles queued per second by 1, 2 and 3 `crawler run` workers sharing
one Redis, against a local site that answers every request after a fixed delay.

    python bench/cluster.py                      # 240 articles, 0.5 s latency
    python bench/cluster.py --articles 480 --latency 1

A local server on 127.0.0.1 (a thread of this process) serves FEEDS feeds, at first empty.
For each worker count a fresh redis-server (port 0, no persistence) and output folder are
used; the workers start, and once all of them are live in the registry and have had two
heartbeats to share the leases, every feed gains its entries, each linking to an article page
whose text no other shares. Feeds are polled every 20 s, so polls take little of the workers'
capacity. The time runs from the first article request to the moment every
article is in the queue folder. Each worker fetches at most `--concurrency` pages at a time, so
one worker is bound by the latency, as a crawler is by the network; figures are ratios to one
worker measured in the same run. Extraction still needs CPU: on a small machine that, not the
cluster, bounds the ratios.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.localsite import LocalSite, Route  # noqa: E402
from tests.support.pages import unique_article  # noqa: E402
from tests.support.redisserver import redis_server  # noqa: E402


class Site:
    """Feeds of fresh articles, each answer after `latency` seconds (the tests' LocalSite)."""

    def __init__(self, feeds: int, per_feed: int, latency: float) -> None:
        self.feeds, self.per_feed, self.latency = feeds, per_feed, latency
        self.round = ""  # a new round of articles (new URLs), "" for empty feeds
        self.first_article: float | None = None
        self.site = LocalSite(responder=self.answer, record=False, delay=latency)
        self.site.__enter__()
        self.host = self.site.host

    def answer(self, path: str, headers: Mapping[str, str]) -> Route | None:
        if path.startswith("/feed"):
            return Route(self.feed(int(path[5:].split(".")[0])), "application/rss+xml")
        if path.startswith("/a/"):
            if self.first_article is None:
                self.first_article = time.monotonic()
            return Route(unique_article(path))
        return None

    def feed(self, n: int) -> bytes:
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        items = "".join(
            f"<item><title>{self.round} {n}-{i}</title>"
            f"<link>http://{self.host}/a/{self.round}/{n}-{i}.html</link>"
            f"<guid>{self.round}/{n}-{i}</guid><pubDate>{now}</pubDate></item>"
            for i in range(self.per_feed if self.round else 0)
        )
        return (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {n}</title>"
            f"<link>http://{self.host}/</link>{items}</channel></rss>"
        ).encode()


def settings(folder: Path, site: Site, redis_url: str, concurrency: int) -> Path:
    feeds = "".join(
        f'[[feeds]]\nurl = "http://{site.host}/feed{n}.xml"\nevery = "20s"\n'
        for n in range(site.feeds)
    )
    path = folder / "crawler.toml"
    path.write_text(
        f"""[output]
dir = "{folder / "out"}"
[fetch]
allow_hosts = ["{site.host}"]
delay = "0s"
timeout = "30s"
per_domain = {concurrency}
concurrency = {concurrency}
workers = 1
[schedule]
min_every = "20s"
max_every = "20s"
jitter = 0
stop_timeout = "10s"
[cluster]
redis = "{redis_url}"
heartbeat = "0.5s"
lease = "2s"
{feeds}"""
    )
    return path


def run(site: Site, workers: int, concurrency: int, label: str) -> float:
    """Articles per second with `workers` workers."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with redis_server(folder / "redis") as url:
            path = settings(folder, site, url, concurrency)
            client = redis.Redis.from_url(url)
            site.round, site.first_article = "", None
            logs = [open(folder / f"worker{n}.log", "w") for n in range(workers)]  # noqa: SIM115
            processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "crawler.cli", "--settings", str(path), "run"],
                    cwd=folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
                for log in logs
            ]
            try:
                deadline = time.monotonic() + 60
                while len(client.hkeys("crawler:workers")) < workers:
                    if time.monotonic() > deadline:
                        raise SystemExit("workers did not start")
                    time.sleep(0.1)
                time.sleep(1.5)  # two heartbeats: the leases are shared out
                site.round = label
                total = site.feeds * site.per_feed
                new = folder / "out" / "queue" / "new"
                deadline = time.monotonic() + 600
                while len(list(new.glob("*.json"))) < total:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"only {len(list(new.glob('*.json')))} of {total}")
                    time.sleep(0.05)
                done = time.monotonic()
                assert site.first_article is not None
                elapsed = done - site.first_article
                items = [json.loads(p.read_text()) for p in new.glob("*.json")]
                assert len({i["url"] for i in items}) == total, "an article was queued twice"
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    process.wait(30)
                for log in logs:
                    log.close()
    rate = total / elapsed
    print(f"{workers} worker(s): {total} articles in {elapsed:.1f}s = {rate:.1f}/s", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=24)
    parser.add_argument("--articles", type=int, default=240, help="articles per worker count")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=4, help="requests per worker")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    site = Site(args.feeds, max(1, args.articles // args.feeds), args.latency)
    print(
        f"cluster benchmark: {site.feeds * site.per_feed} articles, {args.latency}s latency, "
        f"{args.concurrency} requests at a time per worker"
    )
    rates = {n: run(site, n, args.concurrency, f"r{n}") for n in args.workers}
    base = rates.get(1)
    if base:
        print(
            "throughput against 1 worker: "
            + ", ".join(f"{n} workers {rate / base:.2f}x" for n, rate in rates.items() if n != 1)
        )


if __name__ == "__main__":
    main()
