"""Polling benchmark: one poll cycle over 2,000 feeds, against a sequential feedparser loop.

    python bench/polling.py                 # the cycle benchmark
    python bench/polling.py --minutes 10    # soak: the daemon against a churning site, memory
    python bench/polling.py --cycles 500 --feeds 100 --every 1   # soak until each feed is polled
                                                                 # 500 times

A local server on 127.0.0.1 (its own process) serves N feeds of 20 entries each and answers
every request after a fixed delay (default 20 ms, standing in for the network). The entries
are older than `max_age`, so the first poll records them without fetching. Cycle 1 is the
first poll of every feed; before cycle 2, 5% of the feeds gain a new entry linking to a real
article page; the rest are unchanged and answer 304 to a conditional request. Cycle 2 is the
daemon's steady state: the poll cycle, plus fetching, extracting and queueing the new articles.
Both cycles run in this process through the same spider and pipelines as `crawler run`.
The baseline, in the same run, is `feedparser.parse(url)` for each feed in turn (no conditional
requests, no articles fetched). Figures: wall time, CPU seconds of this process and its
extraction workers (the server excluded), and the ratio.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.localsite import LocalSite, Route  # noqa: E402
from tests.support.pages import unique_article  # noqa: E402
from tests.support.procfs import children, open_files, rss_kib, threads, tree_rss_mib  # noqa: E402


class FeedSite:
    """N feeds whose content changes on demand; ETag per feed version; a fixed reply delay.
    Served by the tests' LocalSite, with this class answering every path."""

    def __init__(self, feeds: int, delay: float) -> None:
        self.versions = [0] * feeds
        self.polls = [0] * feeds  # requests per feed
        self.now = datetime.now(UTC)
        self.site = LocalSite(responder=self.respond, record=False, delay=delay)
        self.site.__enter__()
        self.base = self.site.url("")
        self.port = self.site.server.server_address[1]

    def feed_url(self, n: int) -> str:
        return f"{self.base}/feed/{n}.xml"

    def respond(self, path: str, headers: Mapping[str, str]) -> Route:
        if path.startswith("/_change?"):
            fraction, cycle = path.split("?")[1].split("&")
            self.change(float(fraction), int(cycle))
            return Route(b"ok", "text/plain")
        if path.startswith("/article/"):
            return Route(unique_article(path), "text/html")
        n = int(path.split("/")[-1].split(".")[0])
        self.polls[n] += 1
        version = self.versions[n]
        return Route(
            self.feed(n, version), "application/rss+xml", headers={"ETag": f'"{n}-{version}"'}
        )

    def feed(self, n: int, version: int) -> bytes:
        items = []
        for k in range(version, version + 20):
            # the first 20 entries are from last week; each later one is new
            published = self.now - (timedelta(days=7, hours=20 - k) if k < 20 else timedelta(0))
            link = f"{self.base}/article/{n}-{k}.html"
            items.append(
                f"<item><title>Entry {k}</title><link>{link}</link><guid>{n}-{k}</guid>"
                f"<pubDate>{email.utils.format_datetime(published, usegmt=True)}</pubDate>"
                f"<description>Summary of entry {k} of feed {n}.</description></item>"
            )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
            f"<link>{self.base}/</link>{''.join(items)}</channel></rss>"
        ).encode()

    def change(self, fraction: float, cycle: int) -> None:
        step = max(1, round(1 / fraction))
        for n in range(cycle % step, len(self.versions), step):
            self.versions[n] += 1


SERVERS: set[int] = set()  # the feed server's process, whose CPU is not ours


def cpu() -> float:
    """CPU seconds of this process and its children, finished or still running (workers)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime + reaped.ru_utime + reaped.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for child in children(os.getpid()):
        if child in SERVERS:
            continue
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def crawler_cycles(base: str, feeds: int, cycles: int, fraction: float) -> list[tuple]:
    """Poll cycles through crawler's spider and pipelines, in this process."""
    from crawler.config import settings_from_dict
    from crawler.crawl import crawl_once, run_in_reactor

    folder = Path(tempfile.mkdtemp(prefix="crawler-bench-"))
    config = settings_from_dict(
        {
            "output": {"dir": str(folder / "out")},
            "fetch": {
                "allow_hosts": [base.split("//")[1]],
                "delay": "0s",
                "per_domain": 64,
                "concurrency": 64,
            },
            "feeds": [{"url": f"{base}/feed/{n}.xml"} for n in range(feeds)],
        }
    )

    async def run() -> list[tuple]:
        results = []
        for cycle in range(cycles):
            if cycle:
                urllib.request.urlopen(f"{base}/_change?{fraction}&{cycle}").read()
            start_wall, start_cpu = time.perf_counter(), cpu()
            summary = await crawl_once(config)
            results.append((time.perf_counter() - start_wall, cpu() - start_cpu, str(summary)))
        return results

    return run_in_reactor(run)


def baseline(base: str, feeds: list[int]) -> tuple[float, float]:
    import feedparser

    start_wall, start_cpu = time.perf_counter(), cpu()
    for n in feeds:
        parsed = feedparser.parse(f"{base}/feed/{n}.xml")
        assert parsed.entries, n
    return time.perf_counter() - start_wall, cpu() - start_cpu


def serve(feeds: int, delay: float) -> tuple[subprocess.Popen[str], str]:
    """The feed server in its own process; returns it and its base URL."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(feeds), "--delay", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    SERVERS.add(server.pid)
    return server, server.stdout.readline().strip()


def cycle_benchmark(args: argparse.Namespace) -> None:
    server, base = serve(args.feeds, args.delay)
    print(
        f"{args.feeds} feeds x 20 entries, reply delay {args.delay * 1000:.0f} ms, "
        f"{args.change:.0%} of feeds change per cycle"
    )
    sample = list(range(0, args.feeds, max(1, args.feeds // args.baseline_feeds)))
    base_wall, base_cpu = baseline(base, sample)
    results = crawler_cycles(base, args.feeds, 2, args.change)
    server.terminate()
    scale = args.feeds / len(sample)
    base_wall, base_cpu = base_wall * scale, base_cpu * scale
    print(f"\n{'':34} {'wall s':>8} {'CPU s':>8} {'vs baseline':>12}")
    print(
        f"{'feedparser.parse loop (baseline)':34} {base_wall:8.1f} {base_cpu:8.1f} {'1.0x':>12}"
        + (f"   (measured on {len(sample)} feeds, scaled)" if scale != 1 else "")
    )
    for label, (wall, cpu_s, summary) in zip(
        ("crawler cycle 1 (first poll)", "crawler cycle 2 (steady state)"), results, strict=True
    ):
        print(f"{label:34} {wall:8.1f} {cpu_s:8.1f} {base_wall / wall:11.1f}x")
        print(f"{'':34} {summary}")


def soak(args: argparse.Namespace) -> None:
    """The daemon against a site whose feeds keep changing, for `--minutes` or until every feed
    was polled `--cycles` times; resident memory, open files, threads and WAL at start and end."""
    site = FeedSite(args.feeds, args.delay)
    site.now = datetime.now(UTC) + timedelta(days=7)  # entries are new: the daemon fetches them
    folder = Path(tempfile.mkdtemp(prefix="crawler-soak-"))
    settings = folder / "crawler.toml"
    lines = [
        f'[output]\ndir = "{folder / "out"}"',
        f'[fetch]\nallow_hosts = ["127.0.0.1:{site.port}"]\n'
        'delay = "0s"\nper_domain = 16\nconcurrency = 32\nmax_age = "30d"\n'
        f"workers = {args.workers}",
        f'[schedule]\nmin_every = "{args.every}s"\nmax_every = "{args.every * 2}s"',
    ]
    if args.keep:  # a short retention, to see the state database level off
        lines.append(f'[dedup]\nkeep = "{args.keep}"\n[archive]\nkeep = "{args.keep}"')
    lines += [
        f'[[feeds]]\nurl = "{site.feed_url(n)}"\nevery = "{args.every}s"' for n in range(args.feeds)
    ]
    settings.write_text("\n".join(lines) + "\n")
    if args.signatures:
        seed_signatures(folder / "out" / "state.db", args.signatures)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "--settings", str(settings), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    samples = []
    extras: list[tuple[int, int, int]] = []
    end = time.monotonic() + (args.minutes * 60 if args.minutes else float("inf"))
    cycle = 0
    while time.monotonic() < end and not (args.cycles and min(site.polls) >= args.cycles):
        time.sleep(5)
        cycle += 1
        site.change(args.change, cycle)
        samples.append((time.monotonic(), tree_rss_mib(daemon.pid)))
        if len(samples) in (3, 12):  # after warm-up: each process and the database
            print("  " + processes_line(daemon.pid, folder / "out" / "state.db"), flush=True)
        wal = folder / "out" / "state.db-wal"
        extra = (
            open_files(daemon.pid),
            threads(daemon.pid),
            wal.stat().st_size if wal.exists() else 0,
            *database_mib(folder / "out" / "state.db"),
        )
        extras.append(extra)
        print(
            f"  {samples[-1][0] - samples[0][0]:6.0f}s  daemon RSS {samples[-1][1]:7.1f} MiB  "
            f"open files {extra[0]}  threads {extra[1]}  WAL {extra[2] / 1024:.0f} KiB  "
            f"database {extra[3]:.0f} MiB, {extra[4]:.0f} in use  "
            f"polls per feed >= {min(site.polls)}",
            flush=True,
        )
    print("  at end: " + processes_line(daemon.pid, folder / "out" / "state.db"), flush=True)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "crawler.cli", "--settings", str(settings), "status", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    warm = samples[min(len(samples) - 1, len(samples) // 5)][1]
    first, last = extras[min(len(extras) - 1, len(extras) // 5)], extras[-1]
    minutes = (samples[-1][0] - samples[0][0]) / 60 if samples else 0
    print(
        f"\nsoak {minutes:.1f} min, {args.feeds} feeds every {args.every} s "
        f"({min(site.polls)} to {max(site.polls)} polls each): RSS after warm-up {warm:.1f} MiB, "
        f"at end {samples[-1][1]:.1f} MiB ({samples[-1][1] / warm:.2f}x); open files "
        f"{first[0]} -> {last[0]}; threads {first[1]} -> {last[1]}; WAL {first[2] // 1024} -> "
        f"{last[2] // 1024} KiB; database {first[3]:.0f} -> {last[3]:.0f} MiB, in use "
        f"{first[4]:.0f} -> {last[4]:.0f} MiB; items queued "
        f"{len(list((folder / 'out' / 'queue' / 'new').glob('*.json')))} "
        f"({status['items_queued']} still in the database)"
    )


def database_mib(path: Path) -> tuple[float, float]:
    """The state database's size on disk (with its log), and the part of it in use, MiB."""
    from crawler.errors import StateError
    from crawler.state import State

    try:
        with State(path, readonly=True) as state:
            size, free = state.size(), state.free_bytes()
    except StateError:  # not created yet
        return 0.0, 0.0
    return size / 1024**2, (size - free) / 1024**2


def seed_signatures(path: Path, count: int) -> None:
    """Fill a new state database with `count` near-duplicate signatures of random bodies, as a
    month of news would leave them (with their lookups, and a snapshot of the index, as the
    daemon keeps one), so the soak runs with a full index from the start."""
    from crawler.neardup import NearDuplicateIndex
    from crawler.state import State

    from tests.support.signatures import seed_signatures as seed

    started = time.monotonic()
    with State(path) as state:
        seed(state, count)
        NearDuplicateIndex.load(state)  # keeps the first snapshot, as the daemon would
    print(f"  seeded {count} signatures in {time.monotonic() - started:.0f}s", flush=True)


def processes_line(pid: int, database: Path) -> str:
    """Resident memory of the daemon and of each of its child processes, and the state
    database's size on disk with what it holds."""
    own = rss_kib(pid) / 1024
    kids = [f"{rss_kib(child) / 1024:.0f}" for child in children(pid)]
    from crawler.state import State

    with State(database, readonly=True) as state:
        counts = state.counts()
    return (
        f"RSS daemon {own:.0f} MiB, children {' + '.join(kids) or 'none'} MiB, total "
        f"{tree_rss_mib(pid):.0f} MiB; state database {counts['database_bytes'] / 1024**2:.1f} MiB "
        f"(index: {counts['signatures']} signatures; {counts['seen_urls']} seen URLs, "
        f"{counts['seen_entries']} entries, {counts['items']} items)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.02, help="server reply delay, seconds")
    parser.add_argument("--change", type=float, default=0.05, help="fraction changed per cycle")
    parser.add_argument(
        "--baseline-feeds",
        type=int,
        default=2000,
        help="feeds the sequential baseline polls (scaled up to --feeds)",
    )
    parser.add_argument("--minutes", type=float, default=0, help="soak for this long instead")
    parser.add_argument(
        "--cycles", type=int, default=0, help="soak until every feed was polled this often"
    )
    parser.add_argument("--every", type=int, default=5, help="soak: poll interval, seconds")
    parser.add_argument(
        "--signatures", type=int, default=0, help="soak: seed the state with this many signatures"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="soak: fetch.workers (0: one per core, the default)"
    )
    parser.add_argument("--keep", default="", help="soak: dedup.keep and archive.keep, e.g. 5m")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        site = FeedSite(args.feeds, args.delay)
        print(site.base, flush=True)
        threading.Event().wait()
    elif args.minutes or args.cycles:
        soak(args)
    else:
        cycle_benchmark(args)


if __name__ == "__main__":
    main()
