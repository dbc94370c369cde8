"""The shared alert outbox of cluster mode: real redis-server, real SMTP server, real workers."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import redis
from test_cluster import Newsroom, cluster_settings, queued
from test_outbox import HoldingRecorder, SlowRecorder, _queue_item
from test_outbox import _config as outbox_config

from crawler.alerts.sender import Sender
from crawler.cluster.state import ClusterState, Keys
from crawler.config import Settings

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.runner import run_crawler
from support.smtpserver import Recorder, smtp_server

T0 = 1_800_000_000.0
DESK = ["desk@example.org", "editor@example.org"]


def _config(tmp_path: Path, redis_url: str, port: int, worker: str, **alert: object) -> Settings:
    return outbox_config(tmp_path, port, cluster={"redis": redis_url, "worker": worker}, **alert)


def _state(config: Settings, tmp_path: Path, redis_url: str) -> ClusterState:
    assert config.cluster is not None
    return ClusterState(
        tmp_path / f"{config.cluster.worker}.db", redis.Redis.from_url(redis_url), config.cluster
    )


def test_two_senders_on_one_redis_send_each_message_once(tmp_path: Path, redis_url: str) -> None:
    handler = SlowRecorder(delay=0.3)  # slow enough for the two senders to overlap
    with smtp_server(handler) as port:
        configs = [_config(tmp_path, redis_url, port, f"w{n}") for n in range(2)]
        states = [_state(c, tmp_path, redis_url) for c in configs]
        _queue_item(states[0], configs[0], 1, "Ships cross", T0)
        _queue_item(states[1], configs[1], 2, "Insurers pull cover", T0)
        _queue_item(states[0], configs[0], 2, "Insurers pull cover", T0)  # never twice
        assert states[0].outbox_counts() == {"pending": 4, "sent": 0, "failed": 0}

        barrier = threading.Barrier(2)
        sent = [0, 0]

        def send(n: int) -> None:
            barrier.wait()
            sent[n] = asyncio.run(Sender(configs[n], states[n]).send_due(T0))

        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(sent) == [0, 2]  # one sender held the lock, the other left it the tick
        assert sorted(str(m["To"]) for m in _messages(handler)) == DESK
        assert all(m["Subject"] == "caspian: 2 new articles" for m in _messages(handler))
        assert states[1].outbox_counts() == {"pending": 0, "sent": 4, "failed": 0}
        assert asyncio.run(Sender(configs[1], states[1]).send_due(T0 + 10)) == 0
        assert not redis.Redis.from_url(redis_url).exists(Keys("crawler")("sending"))


def test_the_shared_outbox_keeps_the_outbox_rules(tmp_path: Path, redis_url: str) -> None:
    config = _config(tmp_path, redis_url, 1, "w0", mode="digest", every="1h")
    other = _config(tmp_path, redis_url, 1, "w1", mode="digest", every="1h")
    a, b = _state(config, tmp_path, redis_url), _state(other, tmp_path, redis_url)
    _queue_item(a, config, 1, "Ships cross", T0)
    rows = b.pending_alerts(T0)
    assert [(r.item_id, r.recipient, r.status, r.attempts) for r in rows] == [
        ("01JITEM0000000000000000001", to, "pending", 0) for to in DESK
    ]
    assert b.oldest_pending_alert("caspian") == T0
    b.assign_message([rows[0].id], "K1")
    b.alerts_deferred([rows[0].id], "451 later", T0 + 60)
    assert [r.id for r in a.pending_alerts(T0 + 1)] == [rows[1].id]  # the back-off holds
    (retry,) = [r for r in a.pending_alerts(T0 + 60) if r.id == rows[0].id]
    assert (retry.attempts, retry.last_error, retry.message_key) == (1, "451 later", "K1")
    a.alerts_sent([rows[0].id], T0 + 61)
    a.alerts_failed([rows[1].id], "550 no such user")
    assert b.outbox_counts() == {"pending": 0, "sent": 1, "failed": 1}
    (failed,) = b.failed_alerts()
    assert (failed.recipient, failed.status, failed.last_error) == (
        DESK[1],
        "failed",
        "550 no such user",
    )

    # the digest's time is shared: any worker may send the next one
    a.set_meta("digest:caspian", "123.5")
    assert b.meta("digest:caspian") == "123.5"

    # a copy found by one worker is listed under the item another queued
    b.record_also_reported("01JITEM0000000000000000001", "https://wire.example/1", "Wire", T0 + 5)
    assert a.also_reported("01JITEM0000000000000000001") == [("https://wire.example/1", "Wire")]
    (recent,) = a.recent_also_reported()
    assert recent["title"] == "Ships cross" and recent["also_reported"][0]["source"] == "Wire"

    # rows are kept for a month, then trimmed (and the triple's marker with them)
    assert a.trim_outbox(max(T0, time.time()) + 40 * 86400) == 2
    assert a.outbox_counts() == {"pending": 0, "sent": 0, "failed": 0}
    assert not redis.Redis.from_url(redis_url).hlen(Keys("crawler")("outbox", "ids"))


def _messages(handler: Recorder) -> list[EmailMessage]:
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(raw) for raw in handler.received]  # type: ignore[misc]


def _stories(message: EmailMessage) -> set[int]:
    body = message.get_body(("plain",))
    assert body is not None
    return {int(seed) for seed in re.findall(r"/story(\d+)-\d+\.html", body.get_content())}


def _alerting(settings: Path, port: int) -> None:
    settings.write_text(
        settings.read_text()
        + f"""
[[topics]]
name = "news"
query = "Story"
alert = {{ to = ["desk@example.org", "editor@example.org"], mode = "immediate" }}

[mail]
transport = "smtp"
host = "127.0.0.1"
port = {port}
security = "none"
timeout = "2s"
"""
    )


def _mailed_once(handler: Recorder, stories: set[int]) -> bool:
    """Has every story gone to each recipient, in exactly one message?"""
    for to in DESK:
        seen = [s for m in _messages(handler) if str(m["To"]) == to for s in _stories(m)]
        assert len(seen) == len(set(seen)), f"a story mailed twice to {to}: {sorted(seen)}"
        if set(seen) != stories:
            return False
    return True


def test_workers_mail_every_item_once_per_recipient(
    site: LocalSite, tmp_path: Path, redis_url: str, daemons: list[Daemon]
) -> None:
    news = Newsroom(site, feeds=4)
    for seed in range(8):
        news.add(seed, [seed % 4])
    news.add(100, [0, 2])  # one story on two outlets: one item, its copy listed under it
    handler = Recorder()
    with smtp_server(handler) as port:
        settings = cluster_settings(tmp_path, site, redis_url, news.feeds)
        _alerting(settings, port)
        daemons.extend(Daemon(settings, tmp_path) for _ in range(3))
        wait_for(lambda: len(queued(tmp_path)) >= len(news.stories), 60, "every story queued")
        wait_for(lambda: _mailed_once(handler, news.stories), 30, "every story mailed")
        time.sleep(6)  # a further tick of every worker: nothing more goes out
        assert _mailed_once(handler, news.stories)

        report = json.loads(
            run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
        )
        assert report["outbox"] == {
            "pending": 0,
            "sent": 2 * len(news.stories),
            "failed": 0,
            "recent_failures": [],
        }
        (wire,) = [i for i in queued(tmp_path) if i["title"] == "Story 100"]
        shown = run_crawler("--settings", str(settings), "queue", "show", wire["id"], cwd=tmp_path)
        copies = json.loads(shown.stdout)["also_reported"]
        assert len(copies) == 1 and "/story100-" in copies[0]["url"], copies
        for daemon in daemons:
            assert daemon.stop() == 0, daemon.output()
            assert "Traceback" not in daemon.output(), daemon.output()


def test_a_killed_sender_is_taken_over_and_nothing_goes_twice(
    site: LocalSite, tmp_path: Path, redis_url: str, daemons: list[Daemon]
) -> None:
    news = Newsroom(site, feeds=2)
    for seed in range(4):
        news.add(seed, [seed % 2])
    handler = HoldingRecorder()
    with smtp_server(handler) as port:
        settings = cluster_settings(tmp_path, site, redis_url, news.feeds)
        _alerting(settings, port)
        workers = [Daemon(settings, tmp_path) for _ in range(2)]
        daemons.extend(workers)
        assert handler.in_data.wait(60), "no worker started sending"
        client = redis.Redis.from_url(redis_url)
        sender = client.get(Keys("crawler")("sending"))
        assert sender is not None
        pid = int(sender.decode().rsplit("-", 1)[1])
        victim = next(w for w in workers if w.process.pid == pid)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        handler.hold = False
        handler.release.set()
        wait_for(lambda: len(queued(tmp_path)) >= len(news.stories), 60, "every story queued")
        wait_for(lambda: _mailed_once(handler, news.stories), 40, "the survivor mailing them")
        time.sleep(6)
        assert _mailed_once(handler, news.stories)
        survivor = next(w for w in workers if w is not victim)
        assert survivor.stop() == 0, survivor.output()
        assert "Traceback" not in survivor.output(), survivor.output()
