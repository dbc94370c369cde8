"""Near-duplicates end to end: one story from three outlets is one item, reported by the others."""

from __future__ import annotations

import json
import time
from pathlib import Path

from support.localsite import LocalSite
from support.pages import CASPIAN, WIRE, ago, article_page, rss
from support.runner import base_settings, run_crawler

# The same wire story as three outlets run it: a new headline, a credit line, a trimmed end.
COPIES = {
    "/courier/insurers.html": ("Insurers pull cover for Caspian freighters", WIRE),
    "/herald/4468.html": (
        "Caspian shipping loses its insurance",
        [*WIRE, "Reporting by Dana Reporter; Editing by Sam Editor"],
    ),
    "/wire/insurance.html": ("Insurers withdraw Caspian cover", WIRE[:3]),
}


def _settings(site: LocalSite, tmp_path: Path, keep: str = "30d") -> Path:
    path = tmp_path / "crawler.toml"
    path.write_text(
        f"""
{base_settings(tmp_path, site)}[dedup]
keep = "{keep}"
[[feeds]]
url = "{site.url("/feed.xml")}"
[[topics]]
name = "caspian"
query = "Caspian"
"""
    )
    return path


def _feed(site: LocalSite, paths: list[str]) -> None:
    entries = [{"title": p, "link": site.url(p), "guid": p, "published": ago(1)} for p in paths]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")


def _items(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def _also_reported(settings: Path, tmp_path: Path, item_id: str) -> list[dict]:
    shown = run_crawler("--settings", str(settings), "queue", "show", item_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["also_reported"]


def test_one_story_from_three_outlets_is_one_item(site: LocalSite, tmp_path: Path) -> None:
    for path, (title, paragraphs) in COPIES.items():
        site.route(path, article_page(title, paragraphs, outlet=path.split("/")[1]))
    _feed(site, list(COPIES))
    settings = _settings(site, tmp_path)
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (item,) = _items(tmp_path)
    assert len(_also_reported(settings, tmp_path, item["id"])) == 2
    assert "duplicates 2" in result.stdout

    # an article updated in place (same URL, same entry, edited text) is not a new item
    first = next(p for p in COPIES if p in item["url"])
    site.route(first, article_page("Updated headline", [*WIRE, "This story has been corrected."]))
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert len(_items(tmp_path)) == 1

    # after a restart the index is rebuilt: a fourth copy is still the same story
    site.route(
        "/daily/x.html", article_page("Caspian cover withdrawn", ["By a staff writer", *WIRE])
    )
    _feed(site, [*COPIES, "/daily/x.html"])
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert len(_items(tmp_path)) == 1
    assert len(_also_reported(settings, tmp_path, item["id"])) == 3
    status = run_crawler("--settings", str(settings), "status", cwd=tmp_path).stdout
    assert "also reported by" in status


def test_signatures_expire_after_their_retention(site: LocalSite, tmp_path: Path) -> None:
    site.route("/a.html", article_page("Insurers pull cover for Caspian freighters", WIRE))
    site.route("/other.html", article_page("Ships cross the Caspian", CASPIAN))
    _feed(site, ["/a.html", "/other.html"])
    settings = _settings(site, tmp_path, keep="2s")
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert len(_items(tmp_path)) == 2
    time.sleep(2.5)  # the retention itself is what is tested
    site.route("/b.html", article_page("Caspian cover withdrawn", WIRE[:3]))
    _feed(site, ["/a.html", "/other.html", "/b.html"])
    assert run_crawler("--settings", str(settings), "once", cwd=tmp_path).returncode == 0
    assert len(_items(tmp_path)) == 3  # the earlier signature is gone: a new item
