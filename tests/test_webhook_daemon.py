"""Webhook alerts from real `crawler once` / `crawler run` processes: what arrives is what was
queued, a daemon killed mid-request loses nothing, and two cluster workers send each item once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from test_chat_alerts import SECRET, _verify
from test_cluster import Newsroom, cluster_settings, queued

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import three_stories
from support.runner import base_settings, run_crawler

ENV = {"CRAWLER_WEBHOOK_SECRET": SECRET}


def _settings(tmp_path: Path, site: LocalSite, timeout: str = "5s") -> Path:
    settings = tmp_path / "crawler.toml"
    settings.write_text(f"""
{base_settings(tmp_path, site)}[[feeds]]
url = "{site.url("/feed.xml")}"
every = "1m"
[[topics]]
name = "caspian"
query = "Caspian"
alert = {{ to = ["webhook+{site.url("/hook")}"], mode = "immediate" }}
[mail]
timeout = "{timeout}"
""")
    return settings


def _queued(tmp_path: Path) -> list[dict[str, object]]:
    folder = tmp_path / "out" / "queue" / "new"
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def test_once_posts_the_queued_items_as_they_are_in_the_queue(
    site: LocalSite, tmp_path: Path
) -> None:
    three_stories(site)
    settings = _settings(tmp_path, site)
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    items = _queued(tmp_path)
    assert items and all(any(t["name"] == "caspian" for t in i["topics"]) for i in items)
    ((_, headers, body),) = site.posts("/hook")
    assert _verify(headers, body)
    document = json.loads(body)
    assert document["idempotency_key"] == headers["Idempotency-Key"]
    assert sorted(document["items"], key=lambda i: i["id"]) == sorted(items, key=lambda i: i["id"])
    for item in document["items"]:
        (match,) = [t for t in item["topics"] if t["name"] == "caspian"]
        marked = {match["snippet"][a:b].lower() for a, b in match["highlights"]}
        assert marked == {"caspian"}  # the matcher's spans, stored with the match


def test_a_daemon_killed_while_the_webhook_holds_the_request_delivers_after_restart(
    site: LocalSite, tmp_path: Path
) -> None:
    three_stories(site)
    site.hang("/hook")
    settings = _settings(tmp_path, site, timeout="60s")
    first = Daemon(settings, tmp_path, env=ENV)
    try:
        wait_for(lambda: site.posts("/hook"), 60, "the webhook request")
        first.signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        first.stop()
    site.route("/hook", "ok", "text/plain")
    second = Daemon(settings, tmp_path, env=ENV)
    try:
        wait_for(lambda: len(site.posts("/hook")) >= 2, 60, "the webhook request again")
        time.sleep(6)  # a further sender tick: nothing more goes out
    finally:
        assert second.stop() == 0, second.output()
    posts = site.posts("/hook")
    assert len(posts) == 2  # once held and lost with the process, once more after the restart
    (_, held_headers, held_body), (_, headers, body) = posts
    assert held_headers["Idempotency-Key"] == headers["Idempotency-Key"]
    assert json.loads(held_body)["items"] == json.loads(body)["items"]
    assert _verify(headers, body)
    report = json.loads(
        run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
    )
    assert report["outbox"]["pending"] == 0 and report["outbox"]["sent"] == len(_queued(tmp_path))


def test_two_cluster_workers_post_each_item_once(
    site: LocalSite, tmp_path: Path, redis_url: str, daemons: list[Daemon]
) -> None:
    news = Newsroom(site, feeds=2)
    for seed in range(4):
        news.add(seed, [seed % 2])
    settings = cluster_settings(tmp_path, site, redis_url, news.feeds)
    settings.write_text(
        settings.read_text() + f'\n[[topics]]\nname = "news"\nquery = "Story"\n'
        f'alert = {{ to = ["webhook+{site.url("/hook")}"] }}\n'
    )

    def posted() -> list[str]:
        return [
            item["title"]
            for _, _, body in site.posts("/hook")
            for item in json.loads(body)["items"]
        ]

    daemons.extend(Daemon(settings, tmp_path, env=ENV) for _ in range(2))
    wait_for(lambda: len(queued(tmp_path)) >= len(news.stories), 60, "every story queued")
    wait_for(lambda: len(posted()) >= len(news.stories), 30, "every story posted")
    time.sleep(6)  # a further tick of both workers: nothing more goes out
    assert sorted(posted()) == sorted(f"Story {seed}" for seed in news.stories)
    keys = [headers["Idempotency-Key"] for _, headers, _ in site.posts("/hook")]
    assert len(keys) == len(set(keys))
    assert all(_verify(headers, body) for _, headers, body in site.posts("/hook"))
    for daemon in daemons:
        assert daemon.stop() == 0, daemon.output()
        assert "Traceback" not in daemon.output(), daemon.output()
