"""Crash at every write point: for each K, `crawler once` dies at its K-th durable write (fsync,
link, rename, replace, unlink or SQLite commit); a second run then completes. Whatever K, the
outcome is the same: each expected item once, in valid JSON, with a sound database."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, WIRE, ago, article_page, rss
from support.runner import base_settings, run_crawler

CRASHPOINT = Path(__file__).parent / "support" / "crashpoint.py"
EXPECTED = ["Insurers pull cover in the Caspian", "Ships cross the Caspian"]


def _settings(site: LocalSite, folder: Path) -> Path:
    folder.mkdir()
    path = folder / "crawler.toml"
    path.write_text(
        base_settings(folder, site)
        + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n[[topics]]\nname = "c"\nquery = "Caspian"\n'
    )
    return path


def _crash_at(k: int, settings: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CRASHPOINT), str(k), "--settings", str(settings), "once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.parent,
    )


def _check(folder: Path) -> None:
    out = folder / "out"
    files = [*(out / "queue" / "new").glob("*.json"), *(out / "queue" / "cur").glob("*.json")]
    titles = sorted(json.loads(p.read_text("utf-8"))["title"] for p in files)
    assert titles == EXPECTED
    db = sqlite3.connect(out / "state.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == len(EXPECTED)
    assert list((out / "queue" / "tmp").iterdir()) == []


def test_a_crash_at_any_write_leaves_a_state_that_completes_to_the_same_result(
    site: LocalSite, tmp_path: Path
) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/b.html", article_page("Insurers pull cover in the Caspian", WIRE))
    site.route("/c.html", article_page("Honey fair", OFF_TOPIC))
    entries = [
        {"title": p, "link": site.url(p), "guid": p, "published": ago(1)}
        for p in ("/a.html", "/b.html", "/c.html")
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")

    counted = _crash_at(0, _settings(site, tmp_path / "count"))
    assert counted.returncode == 0, counted.stderr
    writes = int(re.search(r"crashpoint: (\d+) writes", counted.stdout).group(1))  # type: ignore[union-attr]
    _check(tmp_path / "count")
    assert writes > 10

    for k in range(1, writes + 1):
        folder = tmp_path / f"crash-{k}"
        settings = _settings(site, folder)
        crashed = _crash_at(k, settings)
        assert crashed.returncode == 99, (k, crashed.stderr[-2000:])
        again = run_crawler("--settings", str(settings), "once", cwd=folder)
        assert again.returncode == 0, (k, again.stderr[-2000:])
        _check(folder)
