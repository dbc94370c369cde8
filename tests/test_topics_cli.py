"""`crawler topics test`, the archive of recent articles, and backfill of a new topic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, WIRE, ago, article_page, rss
from support.runner import base_settings, run_crawler


def test_a_query_on_standard_input(tmp_path: Path) -> None:
    text = "Officials in Tehran said drones were shipped across the Caspian. No football."
    found = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "topics", "test", "(Iran OR Tehran) drones", "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    assert "matches" in found.stdout and "Tehran: 1" in found.stdout
    missed = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "topics", "test", "drones -football", "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert missed.returncode == 1
    assert "does not match" in missed.stdout and "NOT football" in missed.stdout


def test_a_query_on_an_html_file_and_on_a_page(site: LocalSite, tmp_path: Path) -> None:
    page = article_page("Ships cross the Caspian", CASPIAN)
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    on_file = run_crawler(
        "topics", "test", 'title:caspian "artillery shells"', "page.html", cwd=tmp_path
    )
    assert on_file.returncode == 0, on_file.stdout + on_file.stderr
    assert "title:caspian: 1" in on_file.stdout
    site.route("/a.html", page)
    (tmp_path / "crawler.toml").write_text(base_settings(tmp_path, site))
    on_page = run_crawler(
        "--settings",
        "crawler.toml",
        "topics",
        "test",
        "drones AND NOT cookies",
        site.url("/a.html"),
        cwd=tmp_path,
    )
    assert on_page.returncode == 0, on_page.stdout + on_page.stderr  # the junk is gone


def test_a_bad_query_shows_where(tmp_path: Path) -> None:
    result = run_crawler("topics", "test", '(iran OR "tehran', "-", cwd=tmp_path)
    assert result.returncode == 2
    assert "position" in result.stderr and "^" in result.stderr
    assert "Traceback" not in result.stderr


def test_recent_articles_and_backfill_of_a_new_topic(site: LocalSite, tmp_path: Path) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/b.html", article_page("Insurers pull cover", WIRE))
    site.route("/c.html", article_page("Honey fair draws crowds", OFF_TOPIC))
    entries = [
        {"title": n, "link": site.url(f"/{n}.html"), "guid": n, "published": ago(2)} for n in "abc"
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")
    base = f"""
{base_settings(tmp_path, site)}[[feeds]]
url = "{site.url("/feed.xml")}"
[[topics]]
name = "ships"
query = "freighter* OR cargo"
"""
    settings = tmp_path / "crawler.toml"
    settings.write_text(base)
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    new = tmp_path / "out" / "queue" / "new"
    assert len(list(new.glob("*.json"))) == 2  # the honey fair is off-topic

    # every fetched article is in the archive, matched or not
    honey = run_crawler(
        "--settings", str(settings), "topics", "test", "honey", "--recent", "1d", cwd=tmp_path
    )
    assert honey.returncode == 0 and "Honey fair draws crowds" in honey.stdout

    # a new topic is matched once against the archive: no page is fetched again
    settings.write_text(base + '\n[[topics]]\nname = "honey"\nquery = "honey"\n')
    site.clear_log()
    again = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    items = [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]
    assert [i["topics"][0]["name"] for i in items].count("honey") == 1
    assert site.hits("/c.html") == 0
    # and only once
    run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert len(list(new.glob("*.json"))) == 3


def test_the_snippet_marks_what_the_matcher_matched(tmp_path: Path) -> None:
    """Stemmed, folded and phrase matches are marked as matched, not found again by a regex."""
    text = "The SANCTIONED firms moved artillery\n  shells past Téhéran; a sanctionless day."
    found = subprocess.run(
        [
            *(sys.executable, "-m", "crawler.cli", "topics", "test", "--stem"),
            'sanction AND "artillery shells" AND teheran',
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    assert (
        "snippet: The [SANCTIONED] firms moved [artillery shells] past [Téhéran]; a sanctionless day."
        in found.stdout
    )
