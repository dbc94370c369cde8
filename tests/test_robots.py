"""robots.txt as RFC 9309 reads it: rules obeyed, 4xx allows all, unreachable disallows all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.localsite import LocalSite
from support.pages import CASPIAN, SITE_STORY, ago, article_page, rss
from support.runner import base_settings, run_crawler


def _serve(site: LocalSite) -> None:
    site.route("/news/a.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/private/b.html", article_page("Freighter held at Aktau", SITE_STORY))
    entries = [
        {"title": p, "link": site.url(p), "guid": p, "published": ago(1)}
        for p in ("/news/a.html", "/private/b.html")
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")


def _run(site: LocalSite, tmp_path: Path, fetch: str = "") -> tuple[list[str], str]:
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site) + fetch + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    new = tmp_path / "out" / "queue" / "new"
    titles = sorted(json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json"))
    return titles, result.stderr


def test_the_rules_are_obeyed_and_a_refusal_is_not_final(site: LocalSite, tmp_path: Path) -> None:
    _serve(site)
    site.route("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    titles, _ = _run(site, tmp_path)
    assert titles == ["Ships cross the Caspian"]
    assert site.hits("/private/b.html") == 0
    # the site changes its rules: the page is fetched on a later pass (new process, new rules)
    site.route("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
    titles, _ = _run(site, tmp_path)
    assert titles == ["Freighter held at Aktau", "Ships cross the Caspian"]


@pytest.mark.parametrize(
    ("status", "fetched"), [(404, True), (410, True), (500, False), (503, False)]
)
def test_a_robots_txt_that_fails(
    site: LocalSite, tmp_path: Path, status: int, fetched: bool
) -> None:
    _serve(site)
    site.route("/robots.txt", "nope", "text/plain", status=status)
    titles, stderr = _run(site, tmp_path)
    assert bool(titles) is fetched
    assert (site.hits("/news/a.html") > 0) is fetched
    assert site.hits("/feed.xml") == (1 if fetched else 0)
    assert "Traceback" not in stderr


def test_a_robots_txt_that_never_answers_disallows_for_now(site: LocalSite, tmp_path: Path) -> None:
    _serve(site)
    site.hang("/robots.txt")
    titles, stderr = _run(site, tmp_path, fetch='timeout = "2s"\n')
    assert titles == [] and site.hits("/feed.xml") == 0
    (line,) = [line for line in stderr.splitlines() if "source failed" in line]
    assert "robots.txt unreachable" in line and "Traceback" not in stderr
