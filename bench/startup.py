"""Start-up benchmark: how soon `crawler run` polls when its state database holds many signatures.

    .venv/bin/python bench/startup.py [--signatures 300000] [--runs 3]

Seeds a state database with N synthetic near-duplicate signatures (random MinHash values, with
their band hashes, as the index keeps them) and a feed that is due, then times `crawler run`
from its start to its first request for the feed at a local server (127.0.0.1), and to its
"running" log line. The baseline, in the same run, is the same daemon on an empty database;
the difference is what loading the index costs. For comparison it also times what the
datasketch index needed at start: re-adding every stored signature one by one.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.neardup import NearDuplicateIndex, Signature  # noqa: E402
from crawler.schedule import PollOutcome  # noqa: E402
from crawler.state import State  # noqa: E402

from tests.support.localsite import LocalSite  # noqa: E402
from tests.support.lshref import ReferenceIndex  # noqa: E402
from tests.support.pages import ago, rss  # noqa: E402
from tests.support.signatures import seed_signatures  # noqa: E402


def settings(folder: Path, site: LocalSite) -> Path:
    path = folder / "crawler.toml"
    path.write_text(
        f'[output]\ndir = "{folder / "out"}"\n'
        f'[fetch]\nallow_hosts = ["{site.host}"]\ndelay = "0s"\nworkers = 1\n'
        f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\nevery = "10m"\n'
    )
    return path


def seed(state_path: Path, feed_url: str, count: int) -> None:
    """A state database with `count` signatures and the feed due for a poll now."""
    with State(state_path) as state:
        make_due(state, feed_url)
        seed_signatures(state, count)


def make_due(state: State, feed_url: str) -> None:
    """The feed polled ten minutes ago and due again now."""
    row = state.source("feed", feed_url)
    now = time.time()
    state.record_poll(row.id, PollOutcome(status=200, polled_at=now - 600, next_poll_at=now - 1))


def time_start(settings_path: Path, folder: Path, site: LocalSite) -> tuple[float, float]:
    """Seconds from `crawler run` to its first feed request, and to its "running" line."""
    site.clear_log()
    log_path = folder / f"daemon-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}
    with open(log_path, "w") as log:
        started = time.time()
        process = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--settings", str(settings_path), "run"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            running = None
            deadline = time.monotonic() + 120
            while not site.times("/feed.xml"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the daemon did not poll:\n{log_path.read_text()}")
                if running is None and "running sources=" in log_path.read_text():
                    running = time.time()
                time.sleep(0.01)
            polled = site.times("/feed.xml")[0]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    if running is None:
        running = polled  # the line came in the same instant
    return polled - started, running - started


def load(state_path: Path) -> float:
    """Seconds to load the index in this process (the first load also keeps a snapshot)."""
    started = time.perf_counter()
    with State(state_path) as state:
        NearDuplicateIndex.load(state)
    return time.perf_counter() - started


def rebuild_by_adding(state_path: Path) -> float:
    """Seconds the datasketch index took to start: every stored signature added one by one."""
    started = time.perf_counter()
    with State(state_path) as state:
        index = ReferenceIndex()
        for key, data in state.signatures():
            index.add(key, Signature.from_bytes(data))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalSite() as site:
        entries = [{"title": "a", "link": site.url("/a.html"), "guid": "a", "published": ago(1)}]
        site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")
        site.route("/a.html", b"<html><body><p>short</p></body></html>")
        results = {}
        for count in (0, args.signatures):
            folder = Path(tmp) / f"n{count}"
            folder.mkdir()
            path = settings(folder, site)
            state_path = folder / "out" / "state.db"
            started = time.perf_counter()
            seed(state_path, site.url("/feed.xml"), count)
            size = state_path.stat().st_size / 2**20
            print(
                f"seeded {count:,} signatures in {time.perf_counter() - started:.1f} s "
                f"(state database {size:,.0f} MiB)"
            )
            if count:
                print(
                    f"  index load without a snapshot (a row a signature): {load(state_path):.2f} s"
                )
                loads = [load(state_path) for _ in range(args.runs)]
                print(
                    f"  index load from its snapshot: {statistics.median(loads):.2f} s "
                    f"(median of {args.runs})"
                )
            runs = []
            for _ in range(args.runs):
                with State(state_path) as state:  # due again
                    make_due(state, site.url("/feed.xml"))
                runs.append(time_start(path, folder, site))
            results[count] = runs
            polled = statistics.median(r[0] for r in runs)
            running = statistics.median(r[1] for r in runs)
            print(
                f"  crawler run with {count:,} signatures: first poll {polled:.2f} s after start, "
                f"'running' at {running:.2f} s (median of {args.runs}: "
                f"{', '.join(f'{r[0]:.2f}' for r in runs)})"
            )
        base = statistics.median(r[0] for r in results[0])
        full = statistics.median(r[0] for r in results[args.signatures])
        print(f"signatures add {full - base:.2f} s to the start ({full:.2f} s vs {base:.2f} s)")
        state_path = Path(tmp) / f"n{args.signatures}" / "out" / "state.db"
        old = rebuild_by_adding(state_path)
        print(f"the datasketch index re-adding {args.signatures:,} signatures: {old:.1f} s")


if __name__ == "__main__":
    main()
