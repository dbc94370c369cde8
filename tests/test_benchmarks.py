"""Every benchmark in bench/ still runs: each one, on a tiny input, as a process of its own, ends
with its figures and exit code 0. The figures themselves are measured by running the benchmarks
in full (bench/README.md); this only keeps them from falling behind the code they measure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "data" / "extraction-benchmark"

RUNS = {
    "extraction": ["extraction.py", str(PAGES)],
    "extraction end to end": ["extraction.py", str(PAGES), "--end-to-end", "--workers", "1"],
    "dedup": [
        "dedup.py",
        "--data",
        str(PAGES / "ground-truth.json"),
        "--memory-signatures",
        "2000",
        "--lookup-signatures",
        "2000",
    ],
    "topics": [
        "topics.py",
        "--data",
        str(PAGES / "ground-truth.json"),
        "--topics",
        "50",
        "--baseline-articles",
        "2",
    ],
    "polling": ["polling.py", "--feeds", "20", "--baseline-feeds", "10", "--delay", "0"],
    "soak": ["polling.py", "--minutes", "0.3", "--feeds", "10", "--every", "1", "--keep", "1m"],
    "startup": ["startup.py", "--signatures", "2000", "--runs", "1"],
    "footprint": ["footprint.py", "--settle", "1"],
    "feed memory": ["feed_memory.py", "--entries", "500", "--seconds", "2", "--settle", "1"],
    "web": ["web.py", "--articles", "500", "--rounds", "1"],
    "cluster": ["cluster.py", "--articles", "4", "--latency", "0.05", "--workers", "1"],
}


@pytest.mark.parametrize("name", RUNS)
def test_the_benchmark_runs(name: str) -> None:
    if name == "cluster" and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}
    script, *args = RUNS[name]
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip(), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
