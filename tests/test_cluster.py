"""Cluster mode: real `crawler run` workers sharing one real redis-server, against a local site."""

from __future__ import annotations

import itertools
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from crawler.cluster.neardup import SharedNearDuplicateIndex
from crawler.cluster.state import ClusterState, Keys
from crawler.config import settings_from_dict
from crawler.errors import SettingsError
from crawler.neardup import signature

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import ago, article_page, rss
from support.redisserver import RedisServer
from support.runner import run_crawler

EVERY = 2.0  # seconds between polls of a feed
LEASE = 2.0  # seconds before a dead worker's sources are free


def story(seed: int, words: int = 120) -> list[str]:
    """Paragraphs of words no other story shares."""
    rng = random.Random(seed)
    text = [f"w{rng.randrange(10**9)}" for _ in range(words)]
    return [" ".join(text[i : i + 30]) + "." for i in range(0, words, 30)]


def cluster_settings(tmp_path: Path, site: LocalSite, redis_url: str, feeds: list[str]) -> Path:
    blocks = "".join(f'\n[[feeds]]\nurl = "{url}"\nevery = "{EVERY}s"\n' for url in feeds)
    path = tmp_path / "crawler.toml"
    path.write_text(
        f"""
[output]
dir = "{tmp_path / "out"}"

[fetch]
allow_hosts = ["{site.host}"]
delay = "0s"
timeout = "3s"
workers = 1

[schedule]
min_every = "1s"
max_every = "{EVERY}s"
jitter = 0
stop_timeout = "5s"

[cluster]
redis = "{redis_url}"
heartbeat = "0.5s"
lease = "{LEASE}s"
{blocks}
"""
    )
    return path


def queued(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


class Newsroom:
    """Feeds on the local site whose entries a test adds to; stories may run on several feeds."""

    def __init__(self, site: LocalSite, feeds: int) -> None:
        self.site = site
        self.entries: dict[str, list[dict]] = {f"/feed{i}.xml": [] for i in range(feeds)}
        self.stories: set[int] = set()
        for path in self.entries:
            self._publish(path)

    @property
    def feeds(self) -> list[str]:
        return [self.site.url(path) for path in self.entries]

    def add(self, seed: int, feeds: list[int], *, edit: bool = False) -> None:
        """Story `seed` on each of `feeds` (one page per outlet); `edit`: copies after the first
        have a sentence changed, as a re-post would."""
        self.stories.add(seed)
        for n, index in enumerate(feeds):
            feed = f"/feed{index}.xml"
            page = f"/story{seed}-{index}.html"
            paragraphs = story(seed)
            if edit and n:
                paragraphs = [*paragraphs, f"Updated by outlet {index}."]
            self.site.route(
                page, article_page(f"Story {seed}", paragraphs, outlet=f"Outlet {index}")
            )
            self.entries[feed].insert(
                0,
                {
                    "title": f"Story {seed}",
                    "link": self.site.url(page),
                    "guid": page,
                    "published": ago(0.1),
                },
            )
            self._publish(feed)

    def _publish(self, feed: str) -> None:
        self.site.route(feed, rss(feed, self.entries[feed]), "application/rss+xml")


def test_workers_queue_every_story_once_and_take_over_from_a_killed_one(
    site: LocalSite, tmp_path: Path, redis_url: str, daemons: list[Daemon]
) -> None:
    news = Newsroom(site, feeds=6)
    for seed in range(6):
        news.add(seed, [seed])
    news.add(100, [0, 3, 5])  # one wire story on three outlets: queued once
    news.add(101, [1, 4], edit=True)  # a re-post with an added line: a near-duplicate
    settings = cluster_settings(tmp_path, site, redis_url, news.feeds)
    workers = [Daemon(settings, tmp_path) for _ in range(3)]
    daemons.extend(workers)

    def stories_queued() -> list[int]:
        return sorted(int(item["title"].split()[1]) for item in queued(tmp_path))

    wait_for(lambda: len(stories_queued()) >= len(news.stories), timeout=60, what="every story")
    client = redis.Redis.from_url(redis_url)
    key = Keys("crawler")
    owners = wait_for(
        lambda: (
            len({client.get(key("lease", url)) for url in news.feeds} - {None}) == 3
            and {url: client.get(key("lease", url)).decode() for url in news.feeds}
        ),
        timeout=20,
        what="leases spread over the three workers",
    )
    assert isinstance(owners, dict)

    # `crawler status` lists every live worker with its leases, and the frontier
    def status() -> dict:
        return json.loads(
            run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
        )

    # each worker reports its leases at its own heartbeat: the sum settles within one
    report = wait_for(
        lambda: (
            (r := status())
            and len(r["cluster"]["workers"]) == 3
            and sum(w["sources_leased"] for w in r["cluster"]["workers"]) == 6
            and r
        ),
        timeout=20,
        what="three workers leasing six feeds in status",
    )
    assert isinstance(report, dict)
    assert report["cluster"]["frontier"] >= 0 and report["daemon"]["running"]
    assert report["items_queued"] == len(news.stories)
    assert all(s["health"] == "ok" for s in report["sources"]), report["sources"]
    text = run_crawler("--settings", str(settings), "status", cwd=tmp_path).stdout
    assert "cluster: 3 live worker(s)" in text and "source(s) leased" in text
    assert (
        not (tmp_path / "out" / "workers").exists()
        or len(list((tmp_path / "out" / "workers").iterdir())) == 3
    )  # status leaves no worker folder behind

    # each feed is polled by one worker at a time: never two polls within one interval
    time.sleep(2 * EVERY)
    for url in news.feeds:
        times = site.times(url.removeprefix(f"http://{site.host}"))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) > 0.5 * EVERY, (url, gaps)

    # kill -9 the worker that holds the most feeds; the others take them within one interval
    dead = max(set(owners.values()), key=list(owners.values()).count)
    orphaned = [url for url, owner in owners.items() if owner == dead]
    pid = int(dead.rsplit("-", 1)[1])
    victim = next(w for w in workers if w.process.pid == pid)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    killed = time.time()
    for seed in range(200, 206):
        news.add(seed, [seed - 200])
    news.add(300, [0, 2, 4])
    wait_for(lambda: len(stories_queued()) >= len(news.stories), timeout=60, what="the new stories")
    for url in orphaned:
        path = url.removeprefix(f"http://{site.host}")
        after = [t for t in site.times(path) if t > killed]
        assert after and after[0] - killed < LEASE + EVERY + 1.5, (url, after[:1], killed)
    time.sleep(EVERY)
    assert stories_queued() == sorted(news.stories)

    # a clean stop hands the leases back
    for worker in workers:
        if worker is not victim:
            assert worker.stop() == 0, worker.output()
            assert "Traceback" not in worker.output(), worker.output()
    assert not client.keys(key("lease", "*"))
    assert stories_queued() == sorted(news.stories)


def test_a_worker_does_not_fetch_a_page_it_is_already_fetching(
    site: LocalSite, tmp_path: Path, redis_url: str, daemons: list[Daemon]
) -> None:
    """The feed is polled again while its article is still on its way (a slow server): the
    page is requested once, not once a poll."""
    site.route("/a.html", article_page("Slow story", story(7)), delay=EVERY * 1.25)
    entry = {"title": "a", "link": site.url("/a.html"), "guid": "a", "published": ago(1)}
    site.route("/feed.xml", rss("Feed", [entry]), "application/rss+xml")
    settings = cluster_settings(tmp_path, site, redis_url, [site.url("/feed.xml")])
    worker = Daemon(settings, tmp_path)
    daemons.append(worker)
    wait_for(lambda: len(queued(tmp_path)) == 1, timeout=30, what="the slow story")
    assert site.hits("/feed.xml") >= 2  # polled again while the page was on its way
    assert site.hits("/a.html") == 1
    assert worker.stop() == 0


def test_two_workers_keep_one_pace_towards_one_host(
    site: LocalSite, tmp_path: Path, redis_url: str, daemons: list[Daemon]
) -> None:
    """Politeness holds across the cluster: requests to one host start at least
    `fetch.delay / fetch.per_domain` apart in all, not that apart per worker."""
    news = Newsroom(site, feeds=4)
    for seed in range(12):
        news.add(seed, [seed % 4])
    settings = cluster_settings(tmp_path, site, redis_url, news.feeds)
    text = settings.read_text().replace('delay = "0s"', 'delay = "0.4s"\nper_domain = 1')
    settings.write_text(text)
    workers = [Daemon(settings, tmp_path) for _ in range(2)]
    daemons.extend(workers)
    wait_for(lambda: len(queued(tmp_path)) == 12, timeout=60, what="every story")
    for worker in workers:
        assert worker.stop() == 0
    arrivals = sorted((float(h["X-Arrived"]), p) for p, h in site.requests())
    gaps = [(b[0] - a[0], a[1], b[1]) for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) > 16 and min(gaps)[0] > 0.3, sorted(gaps)[:5]  # 0.4 s, less jitter


def test_a_redis_outage_costs_log_lines_and_loses_nothing(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    """Redis goes away under two workers and comes back (with its data, as a Redis with an
    append-only file does): the workers stay up, and every story lands exactly once."""
    server = RedisServer(tmp_path / "redis", persist=True)
    try:
        news = Newsroom(site, feeds=2)
        news.add(1, [0])
        news.add(2, [1])
        settings = cluster_settings(tmp_path, site, server.url, news.feeds)
        workers = [Daemon(settings, tmp_path) for _ in range(2)]
        daemons.extend(workers)
        wait_for(lambda: len(queued(tmp_path)) == 2, timeout=30, what="the first stories")

        server.stop()
        news.add(3, [0])
        news.add(4, [1, 0])  # one story on both feeds: still queued once
        time.sleep(LEASE * 3)
        assert all(worker.process.poll() is None for worker in workers)
        assert len(queued(tmp_path)) == 2
        assert server.start()

        wait_for(lambda: len(queued(tmp_path)) == 4, timeout=60, what="the stories of the outage")
        time.sleep(EVERY * 2)  # more polls: nothing more
        titles = sorted(item["title"] for item in queued(tmp_path))
        assert titles == ["Story 1", "Story 2", "Story 3", "Story 4"]
        for worker in workers:
            assert worker.stop() == 0
            assert "Traceback" not in worker.output()
        assert any("redis" in worker.output().lower() for worker in workers)
    finally:
        server.stop()


def test_two_workers_racing_on_one_story_decide_it_once(tmp_path: Path, redis_url: str) -> None:
    config = {"cluster": {"redis": redis_url}, "output": {"dir": str(tmp_path)}}
    client = redis.Redis.from_url(redis_url)
    states = [
        ClusterState(
            tmp_path / f"w{n}.db",
            client,
            settings_from_dict(
                {**config, "cluster": {"redis": redis_url, "worker": f"w{n}"}}
            ).cluster,  # type: ignore[arg-type]
        )
        for n in range(2)
    ]
    for state in states:
        state.touch()
    indexes = [
        SharedNearDuplicateIndex(redis.Redis.from_url(redis_url), Keys("crawler"), 0.5)
        for _ in states
    ]
    for round_ in range(20):
        base = story(round_)
        copies = [base, [*base, f"Reported by outlet {round_}."]]  # near-duplicates, not equal
        sigs = [signature("t", " ".join(c)) for c in copies]
        exact, near = race(
            lambda n, r=round_: states[n].claim_fingerprint(f"same-{r}", f"https://x/{n}"),
            lambda n, r=round_, s=sigs: indexes[n].find_or_add(f"h{r}-{n}", s[n]),
        )
        assert sum(owner is None for owner in exact) == 1, exact
        assert sum(earlier is None for earlier in near) == 1, near
        winner = near.index(None)
        loser = near[1 - winner]
        assert loser is not None and loser.key == f"h{round_}-{winner}"

    # the facts travel with the signature: another worker checks them too
    quake = " ".join(story(99)) + " A magnitude 4.6 quake struck Hilo at 14:32."
    sig = signature("t", quake)
    assert indexes[0].find_or_add("quake", sig) is None
    assert states[1].signature_facts("quake") == sig.facts
    assert states[1].signature_facts("never-added") is None
    indexes[1].remove("quake")
    assert states[0].signature_facts("quake") is None


def race(*steps: Callable[[int], object]) -> list[list[object]]:
    """Two threads run `steps` in turn, starting each together; the results of each step."""
    results: list[list[object]] = [[None, None] for _ in steps]
    barrier = threading.Barrier(2)

    def run(n: int) -> None:
        for step, result in zip(steps, results, strict=True):
            barrier.wait()
            result[n] = step(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_an_unreachable_redis_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'[output]\ndir = "{tmp_path / "out"}"\n[cluster]\nredis = "redis://127.0.0.1:{port}/0"\n'
    )
    result = run_crawler("--settings", str(settings), "run", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "cluster.redis" in line and f"127.0.0.1:{port}" in line


def test_items_reach_a_redis_stream_read_by_a_consumer_group(
    site: LocalSite, tmp_path: Path, redis_url: str
) -> None:
    news = Newsroom(site, feeds=2)
    news.add(1, [0])
    news.add(2, [1])
    news.add(3, [0, 1])  # on both feeds: one entry in the stream
    settings = cluster_settings(tmp_path, site, redis_url, news.feeds)
    settings.write_text(settings.read_text().replace("[cluster]\n", '[cluster]\nstream = "news"\n'))
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.xgroup_create("news", "readers", id="0", mkstream=True)

    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    read: list[dict] = []
    for consumer in ("reader-1", "reader-2"):  # two readers share the group's entries
        for _, entries in client.xreadgroup("readers", consumer, {"news": ">"}, count=2):
            for entry_id, fields in entries:
                read.append(json.loads(fields["item"]))
                assert fields["id"] == read[-1]["id"]
                client.xack("news", "readers", entry_id)
    assert sorted(item["title"] for item in read) == ["Story 1", "Story 2", "Story 3"]
    assert {item["id"] for item in read} == {item["id"] for item in queued(tmp_path)}
    assert client.xpending("news", "readers")["pending"] == 0


def test_the_single_machine_path_never_imports_redis() -> None:
    code = (  # as if the cluster extra were not installed
        "import sys; sys.modules['redis'] = sys.modules['scrapy_redis'] = None; "
        "import crawler.cli, crawler.crawl, crawler.daemon, crawler.spider, crawler.pipelines, "
        "crawler.status, crawler.cluster; from crawler.config import settings_from_dict; "
        "from crawler.crawl import scrapy_settings; scrapy_settings(settings_from_dict({}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cluster_settings_are_checked_and_give_each_worker_its_own_files(tmp_path: Path) -> None:
    config = settings_from_dict(
        {"output": {"dir": "out"}, "cluster": {"redis": "redis://h:6379/0", "worker": "a-1"}}
    )
    assert config.output.state_path == Path("out/workers/a-1/state.db")
    assert config.output.queue_dir == Path("out/queue")
    assert settings_from_dict({}).output.state_path == Path("output/state.db")
    for cluster, key in (
        ({"redis": "http://h/"}, "cluster.redis"),
        ({"redis": "redis://h", "heartbeat": "10s", "lease": "15s"}, "cluster.lease"),
        ({"redis": "redis://h", "worker": "a b"}, "cluster.worker"),
    ):
        with pytest.raises(SettingsError) as error:
            settings_from_dict({"cluster": cluster})
        assert key in str(error.value), error.value
