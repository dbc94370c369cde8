"""Memory of one poll of a very large feed: the resident memory of `crawler run` and of its
whole process group (the daemon and its worker processes), before and during the poll.

    python bench/feed_memory.py                   # 50,000 entries
    python bench/feed_memory.py --entries 20000 --seconds 30

A local server on 127.0.0.1 (a thread of this process) serves one RSS feed, empty until the
daemon has settled; then the feed gains `--entries` entries (title, link, guid, date and a
summary of about 400 characters each), every one linking to a page that answers 404 at once,
so what is measured is the poll and the requests it makes, not extraction. Memory is sampled
every 0.1 s from /proc until `--seconds` after the poll was recorded; the figures are the
settled baseline and the peaks.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.localsite import LocalSite  # noqa: E402  (the tests' local server)
from tests.support.procfs import group_rss_kib, rss_kib  # noqa: E402

SUMMARY = (
    "Freighters crossed the northern route again this week, brokers said, while insurers "
    "weighed the risk of sanctions and port officials declined to comment on manifests that "
    "list machine parts, fertiliser and crates of unspecified equipment bound for the far "
    "shore, where trucks were seen waiting on the quay through the night. "
)


def feed(site: LocalSite, entries: int) -> bytes:
    date = email.utils.format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    items = "".join(
        f"<item><title>Story number {i} from the wire</title>"
        f"<link>{site.url(f'/p/{i}.html')}</link><guid isPermaLink='false'>e-{i}</guid>"
        f"<pubDate>{date}</pubDate><description>{SUMMARY}{i}</description></item>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Big wire</title><link>{site.url('/')}</link>{items}</channel></rss>"
    ).encode()


def polled(state_db: Path) -> bool:
    if not state_db.exists():
        return False
    try:
        with sqlite3.connect(state_db, timeout=5) as db:
            row = db.execute("SELECT max(last_polled_at) FROM sources").fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()

    with LocalSite() as site, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site.route("/feed.xml", feed(site, 0), "application/rss+xml")
        settings = root / "crawler.toml"
        settings.write_text(
            f'[output]\ndir = "{root / "out"}"\n'
            f'[fetch]\nallow_hosts = ["{site.host}"]\ndelay = "0s"\nworkers = 1\n'
            'per_domain = 16\nmax_page_size = "50MB"\ntimeout = "60s"\n'
            '[schedule]\nmin_every = "10m"\n'
            f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\nevery = "10m"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--settings", str(settings), "run"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            state_db = root / "out" / "state.db"
            deadline = time.monotonic() + 60
            while not polled(state_db) and time.monotonic() < deadline:
                time.sleep(0.2)  # the first poll, of the empty feed
            time.sleep(args.settle)
            base = (rss_kib(daemon.pid), group_rss_kib(daemon.pid))
            site.route("/feed.xml", feed(site, args.entries), "application/rss+xml")
            with sqlite3.connect(state_db) as db:  # poll again now
                db.execute("UPDATE sources SET last_polled_at = NULL, next_poll_at = NULL")
            daemon.send_signal(signal.SIGHUP)  # jobs re-read their next poll time
            peak = base
            started, done_at = time.monotonic(), None
            while True:
                now = time.monotonic()
                peak = (max(peak[0], rss_kib(daemon.pid)), max(peak[1], group_rss_kib(daemon.pid)))
                if done_at is None and polled(state_db):
                    done_at = now
                if done_at is not None and now - done_at > args.seconds:
                    break
                if now - started > 600:
                    break
                time.sleep(0.1)
            pages = len([p for p, _ in site.requests() if p.startswith("/p/")])
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    print(
        f"entries {args.entries}: daemon {base[0] / 1024:.0f} MB -> peak {peak[0] / 1024:.0f} MB; "
        f"process group {base[1] / 1024:.0f} MB -> peak {peak[1] / 1024:.0f} MB; "
        f"poll recorded after {(done_at or now) - started:.1f} s; "
        f"pages requested {pages} in {args.seconds:.0f} s after it"
    )


if __name__ == "__main__":
    main()
