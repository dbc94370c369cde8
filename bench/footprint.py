"""Footprint benchmark: resident memory of `crawler run` and its workers on the demo sources.

    python bench/footprint.py              # the daemon as `crawler run` starts it
    python bench/footprint.py --workers 1

The bundled demo site is served on 127.0.0.1; `crawler run` polls its two feeds and its section
page, extracts and queues the articles and keeps running. Once the demo's items are queued and
the daemon has been idle for a few seconds (warm-up), the resident memory (VmRSS) and the
proportional set size (PSS: shared pages divided among the processes that share them) of the
daemon and each child process are read from /proc. The baseline, in the same run, is a bare
Python process that imports Scrapy (the floor of any Scrapy-based crawler's engine) plus, for
each extraction worker, one that imports trafilatura.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.demo import DEMO_TOPIC  # noqa: E402
from crawler.demo.server import DemoSite  # noqa: E402

from tests.support.procfs import children, memory_kib  # noqa: E402


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return "?"
    text = raw.decode(errors="replace")
    if "crawler.worker import serve" in text:
        return "extraction worker"
    return " ".join(text.split("\0")[:4])


def settings(site: DemoSite, folder: Path, workers: int) -> Path:
    base = site.base_url
    path = folder / "crawler.toml"
    topic = DEMO_TOPIC
    path.write_text(
        f'[output]\ndir = "{folder / "out"}"\n'
        f'[fetch]\nallow_hosts = ["{site.host}"]\ndelay = "0s"\nmax_age = "2d"\n'
        f"workers = {workers}\n"
        f'[[feeds]]\nurl = "{base}/caspian-courier/rss.xml"\n'
        f'[[feeds]]\nurl = "{base}/steppe-herald/atom.xml"\n'
        f'[[sites]]\nname = "Harbor Wire"\nstart = ["{base}/harbor-wire/world/"]\n'
        f"allow = ['/harbor-wire/world/\\d{{4}}/']\ndepth = 1\n"
        f"[[topics]]\nname = \"{topic['name']}\"\nquery = '{topic['query']}'\n"
    )
    return path


def floor_kib(imports: str) -> int:
    """RSS of a bare Python process that has imported `imports`."""
    code = f"import sys, {imports}; print('ready', flush=True); sys.stdin.read()"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    process.stdout.readline()
    rss, _ = memory_kib(process.pid)
    process.communicate("")
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=0, help="fetch.workers (0: automatic)")
    parser.add_argument("--settle", type=float, default=10.0, help="idle seconds before reading")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crawler-footprint-"))
    with DemoSite() as site:
        path = settings(site, folder, args.workers)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--settings", str(path), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        queue = folder / "out" / "queue" / "new"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(queue.glob("*.json"))) < 4:
            time.sleep(0.5)
        time.sleep(args.settle)
        rows = [("daemon (crawler run)", *memory_kib(daemon.pid))]
        rows += [(command_line(c), *memory_kib(c)) for c in sorted(children(daemon.pid))]
        items = len(list(queue.glob("*.json")))
        daemon.terminate()
        daemon.wait(60)
    engine = floor_kib("scrapy, scrapy.crawler, twisted.internet.asyncioreactor")
    worker = floor_kib("trafilatura")
    print(f"crawler run on the demo sources, {items} items queued, after warm-up:\n")
    print(f"{'process':36} {'RSS MiB':>8} {'PSS MiB':>8}")
    for name, rss, pss in rows:
        print(f"{name:36} {rss / 1024:8.1f} {pss / 1024:8.1f}")
    total_rss = sum(r for _, r, _ in rows)
    total_pss = sum(p for _, _, p in rows)
    print(f"{'total':36} {total_rss / 1024:8.1f} {total_pss / 1024:8.1f}")
    workers = sum(1 for name, _, _ in rows if name == "extraction worker")
    floor = engine + workers * worker
    print(
        f"\nbaseline: bare processes that import Scrapy ({engine / 1024:.1f} MiB) and, one per "
        f"worker, trafilatura ({worker / 1024:.1f} MiB): {floor / 1024:.1f} MiB RSS; "
        f"crawler / baseline = {total_rss / floor:.2f}"
    )


if __name__ == "__main__":
    main()
