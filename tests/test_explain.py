"""The decision trail through the command line: `crawler once` records why each page was queued
or dropped, `crawler explain URL` prints it, `crawler deliver URL` queues a merged copy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support.localsite import LocalSite
from support.pages import CASPIAN, OFF_TOPIC, WIRE, ago, article_page, rss
from support.redisserver import redis_server
from support.runner import base_settings, run_crawler

TOPIC = "Caspian AND (drone* OR insurers OR sanctions)"


def _serve(site: LocalSite) -> None:
    site.route("/a/caspian.html", article_page("Cargo ships cross the Caspian", CASPIAN))
    site.route("/a/honey.html", article_page("Honey fair draws record crowds", OFF_TOPIC))
    site.route("/a/wire.html", article_page("Insurers pull cover", WIRE, outlet="Courier"))
    site.route("/a/wire-copy.html", article_page("Insurers withdraw cover", WIRE, outlet="Herald"))
    site.route("/a/old.html", article_page("Old story", CASPIAN[:2] + WIRE[:2]))
    site.route("/a/broken.html", "oops", status=500)
    site.route("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.route("/private/memo.html", article_page("Memo", CASPIAN))
    entries = [
        ("Cargo ships", "/a/caspian.html?utm_source=rss", 1),
        ("Honey", "/a/honey.html", 2),
        ("Insurers", "/a/wire.html", 3),
        ("Insurers again", "/a/wire-copy.html", 4),
        ("Old", "/a/old.html", 24 * 10),
        ("Broken", "/a/broken.html", 5),
        ("Memo", "/private/memo.html", 5),
    ]
    items = [
        {"title": t, "link": site.url(path), "guid": path, "published": ago(h)}
        for t, path, h in entries
    ]
    items.append({"title": "Local file", "link": "file:///etc/passwd", "guid": "file"})
    site.route("/rss.xml", rss("The Courier", items), "application/rss+xml")


def _settings(tmp_path: Path, site: LocalSite, extra: str = "") -> Path:
    path = tmp_path / "crawler.toml"
    path.write_text(
        base_settings(tmp_path, site)
        + f"""{extra}
[[feeds]]
url = "{site.url("/rss.xml")}"

[[topics]]
name = "caspian"
query = '{TOPIC}'
alert = {{ to = ["desk@example.org"] }}

[[topics]]
name = "bees"
query = 'honey AND beekeepers AND queen'
""",
        encoding="utf-8",
    )
    return path


def _items(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


@pytest.fixture
def crawled(site: LocalSite, tmp_path: Path):
    _serve(site)
    settings = _settings(tmp_path, site)
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return site, tmp_path, settings, result


def _explain(settings: Path, url: str, *extra: str):
    return run_crawler("--settings", str(settings), "explain", url, *extra, cwd=settings.parent)


def _wire(site: LocalSite, tmp_path: Path) -> tuple[dict, str, str]:
    """The wire story's item, and the path and title of its copy: the two pages are fetched
    at once, so either may be the one queued."""
    item = next(i for i in _items(tmp_path) if i["text"].startswith(WIRE[0][:40]))
    if item["title"] == "Insurers pull cover":
        return item, "/a/wire-copy.html", "Insurers withdraw cover"
    return item, "/a/wire.html", "Insurers pull cover"


def test_once_counts_drops_by_reason_and_logs_one_line_each(crawled) -> None:
    site, _, _, result = crawled
    summary = result.stdout.strip().splitlines()[-1]
    assert "queued 2" in summary
    dropped = dict(
        (reason, int(n))
        for reason, n in re.findall(r"([a-z0-9-]+) (\d+)", summary.split("dropped:")[1])
    )
    assert dropped == {
        "duplicate": 1,
        "too-old": 1,
        "off-topic": 1,
        "fetch-failed": 1,
        "robots": 1,
        "refused": 1,
    }, summary
    lines = [line for line in result.stderr.splitlines() if " dropped reason=" in line]
    assert len(lines) == 3, lines  # a failed or refused fetch has its own warning line
    off_topic = next(line for line in lines if "reason=off-topic" in line)
    assert " INFO " in off_topic
    assert f"url={site.url('/a/honey.html')} detail=no topic matched" in off_topic
    assert any(
        "reason=too-old" in line and f"url={site.url('/a/old.html')} detail=published " in line
        for line in lines
    )


def test_explain_a_queued_url_shows_its_whole_path(crawled) -> None:
    site, tmp_path, settings, _ = crawled
    result = _explain(settings, site.url("/a/caspian.html?utm_source=newsletter"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    item = next(i for i in _items(tmp_path) if i["title"] == "Cargo ships cross the Caspian")
    assert out.splitlines()[0] == site.url("/a/caspian.html")  # looked up normalised
    assert "outcome: queued" in out
    assert f"feed entry of The Courier (feed {site.url('/rss.xml')}), entry 'Cargo ships'" in out
    assert "fetch: " in out and "HTTP 200" in out
    assert re.search(r"extraction: \d+ words, title 'Cargo ships cross the Caspian'", out)
    assert "duplicate: unique" in out
    assert "topic caspian: matches; found Caspian 2, drone* 1; missing insurers, sanctions" in out
    assert "topic bees: does not match; found nothing; missing honey, beekeepers, queen" in out
    file = next((tmp_path / "out" / "queue" / "new").glob(f"*{item['id']}*")).name
    assert f"queued: item {item['id']}, file {file}" in out
    assert "alert caspian to desk@example.org (immediate)" in out


def test_explain_a_merged_copy_names_the_item(crawled) -> None:
    site, tmp_path, settings, _ = crawled
    original, copy, _ = _wire(site, tmp_path)
    out = _explain(settings, site.url(copy)).stdout
    assert "outcome: duplicate (same text as " in out
    assert f"duplicate: duplicate of item {original['id']}" in out
    assert "topics: not matched (dropped before)" in out
    # the original lists the copy as also reported
    out = _explain(settings, original["url"]).stdout
    assert f"also reported by: The Courier {site.url(copy)}" in out


def test_explain_a_too_old_and_an_unmatched_url(crawled) -> None:
    site, _, settings, _ = crawled
    old = _explain(settings, site.url("/a/old.html"))
    assert old.returncode == 0
    assert "outcome: too-old (published " in old.stdout
    assert "older than fetch.max_age" in old.stdout
    assert "facts: published " in old.stdout and "published_source feed" in old.stdout
    assert "fetch:" not in old.stdout  # never fetched
    assert site.hits("/a/old.html") == 0
    honey = _explain(settings, site.url("/a/honey.html")).stdout
    assert "outcome: off-topic (no topic matched)" in honey
    assert "topic caspian: does not match; found nothing; missing Caspian, drone*" in honey
    assert "failed: Caspian: not found" not in honey  # said by "missing" already
    assert "topic bees: does not match; found honey 3, beekeepers 1; missing queen" in honey
    broken = _explain(settings, site.url("/a/broken.html")).stdout
    assert "outcome: fetch-failed (HTTP 500)" in broken and "failed: HTTP 500" in broken


def test_explain_refusals_by_robots_txt_and_the_address_guard(crawled) -> None:
    site, _, settings, _ = crawled
    robots = _explain(settings, site.url("/private/memo.html")).stdout
    assert "outcome: robots (Forbidden by robots.txt)" in robots
    assert site.hits("/private/memo.html") == 0
    local = _explain(settings, "file://etc/passwd").stdout  # as Scrapy requested it
    assert "outcome: refused (" in local and "is not http(s)" in local


def test_explain_an_unknown_url_says_so(crawled) -> None:
    site, _, settings, _ = crawled
    result = _explain(settings, site.url("/a/never.html"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"nothing known about {site.url('/a/never.html')}" in result.stderr
    as_json = _explain(settings, site.url("/a/never.html"), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"url": site.url("/a/never.html"), "found": False}


def test_explain_json_for_scripts(crawled) -> None:
    site, tmp_path, settings, _ = crawled
    original, copy, copy_title = _wire(site, tmp_path)
    result = _explain(settings, site.url(copy), "--json")
    assert result.returncode == 0, result.stderr
    trail = json.loads(result.stdout)
    assert trail["outcome"] == "duplicate"
    assert trail["duplicate"]["verdict"] == "duplicate"
    assert trail["duplicate"]["of"] == original["id"]
    assert trail["seen"]["via"] == "feed entry"
    assert trail["seen"]["source"]["url"] == site.url("/rss.xml")
    assert trail["fetch"]["status"] == 200
    assert trail["extraction"]["title"] == copy_title
    assert trail["extraction"]["words"] > 50
    queued = json.loads(_explain(settings, site.url("/a/caspian.html"), "--json").stdout)
    verdicts = {v["topic"]: v for v in queued["topics"]}
    assert verdicts["caspian"]["matched"] is True
    assert verdicts["bees"]["missing"] == ["honey", "beekeepers", "queen"]
    assert queued["queued"]["alerts"] == [
        {"topic": "caspian", "recipient": "desk@example.org", "mode": "immediate"}
    ]


def test_status_counts_the_last_day_by_reason(crawled) -> None:
    _, tmp_path, settings, _ = crawled
    report = json.loads(
        run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
    )
    assert report["last_24h"]["queued"] == 2
    assert report["last_24h"]["dropped"] == {
        "duplicate": 1,
        "fetch-failed": 1,
        "off-topic": 1,
        "refused": 1,
        "robots": 1,
        "too-old": 1,
    }
    text = run_crawler("--settings", str(settings), "status", cwd=tmp_path).stdout
    assert "last 24h: 2 queued, 6 dropped (duplicate 1, fetch-failed 1, " in text


def test_deliver_queues_a_merged_copy_once(crawled) -> None:
    site, tmp_path, settings, _ = crawled
    _, path, title = _wire(site, tmp_path)
    copy = site.url(path)
    before = site.hits(path)
    result = run_crawler("--settings", str(settings), "deliver", copy, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert site.hits(path) == before + 1  # fetched again, through the crawl
    items = _items(tmp_path)
    delivered = [i for i in items if i["title"] == title]
    assert len(delivered) == 1 and delivered[0]["topics"][0]["name"] == "caspian"
    assert result.stdout.startswith(f"queued as item {delivered[0]['id']} (file ")
    assert "earlier: duplicate (same text as " in result.stdout
    assert "delivered anyway (crawler deliver)" in result.stdout
    out = _explain(settings, copy).stdout
    assert "outcome: queued" in out and "seen: " in out and ", deliver of " in out
    assert "first seen: " in out and ", feed entry of The Courier " in out
    # a second time: already queued, nothing fetched
    again = run_crawler("--settings", str(settings), "deliver", copy, cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout.startswith(f"already queued as item {delivered[0]['id']}; nothing done")
    assert site.hits(path) == before + 1
    assert len(_items(tmp_path)) == len(items)


def test_deliver_an_off_topic_page_says_why_not(crawled) -> None:
    site, tmp_path, settings, _ = crawled
    result = run_crawler(
        "--settings", str(settings), "deliver", site.url("/a/honey.html"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stdout.startswith("not queued: off-topic")
    assert len(_items(tmp_path)) == 2


def test_a_topic_added_later_backfills_and_the_trail_says_so(crawled) -> None:
    site, tmp_path, settings, _ = crawled
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text + '\n[[topics]]\nname = "fairs"\nquery = "honey fair"\n')
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    honey = next(i for i in _items(tmp_path) if i["title"] == "Honey fair draws record crowds")
    out = _explain(settings, site.url("/a/honey.html")).stdout
    assert "outcome: queued" in out
    assert "earlier: off-topic (no topic matched)" in out
    assert f"queued: item {honey['id']}, file " in out
    assert "(backfill: for a topic added later)" in out
    assert "seen: " in out and "feed entry of The Courier" in out


def test_explain_in_cluster_mode_reads_redis(site: LocalSite, tmp_path: Path) -> None:
    _serve(site)
    with redis_server(tmp_path / "redis") as url:
        settings = _settings(tmp_path, site, f'[cluster]\nredis = "{url}"\n')
        result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for state_file in (tmp_path / "out").rglob("state.db*"):
            state_file.unlink()  # nothing of the worker's own file is needed
        _, copy, _ = _wire(site, tmp_path)
        out = _explain(settings, site.url(copy)).stdout
        assert "outcome: duplicate (same text as " in out
        assert "topics: not matched (dropped before)" in out
        honey = _explain(settings, site.url("/a/honey.html")).stdout
        assert "topic bees: does not match; found honey 3, beekeepers 1; missing queen" in honey
        report = json.loads(
            run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
        )
        assert report["last_24h"]["dropped"]["too-old"] == 1
        assert _explain(settings, site.url("/a/never.html")).returncode == 1
