"""The alert outbox against a real SMTP server: batches, digests, outages, never twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from crawler.alerts.sender import Sender, alert_payload
from crawler.config import Settings, settings_from_dict
from crawler.state import Alert, ItemRecord, State

from support.localsite import LocalSite
from support.pages import three_stories
from support.runner import base_settings, run_crawler
from support.smtpserver import Recorder, closed_port, smtp_server

T0 = 1_800_000_000.0  # a fixed "now" for the schedule


def _config(
    tmp_path: Path,
    port: int,
    mode: str = "immediate",
    cluster: dict[str, str] | None = None,
    **alert: object,
) -> Settings:
    """Settings with one alerting topic mailed over SMTP to `port`; `cluster`: a [cluster]."""
    return settings_from_dict(
        {
            "output": {"dir": str(tmp_path / "out")},
            **({"cluster": cluster} if cluster else {}),
            "topics": [
                {
                    "name": "caspian",
                    "query": "Caspian",
                    "alert": {
                        "to": ["desk@example.org", "editor@example.org"],
                        "mode": mode,
                        **alert,
                    },
                }
            ],
            "mail": {
                "transport": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "timeout": "2s",
                "from": "crawler@example.org",
            },
        }
    )


def _queue_item(state: State, config: Settings, n: int, title: str, now: float) -> None:
    """Record an item as the queue pipeline does, with its outbox rows in the same commit."""
    item = {
        "id": f"01JITEM{n:019d}",
        "url": f"https://courier.example/{n}",
        "title": title,
        "published": None,
        "source": {"name": "Courier"},
        "topics": [{"name": "caspian", "terms": ["Caspian"], "snippet": f"{title} in the Caspian"}],
    }
    alert = config.topics[0].alert
    assert alert is not None
    state.record_article(
        urls=[item["url"]],
        outcome="queued",
        content_hash=f"h{n}",
        item=ItemRecord(item["id"], item["url"], None, title, "Courier", None, None, f"h{n}"),
        alerts=[
            Alert("caspian", to, alert.mode, alert_payload(item, "caspian")) for to in alert.to
        ],
        now=now,
    )


def _subjects(handler: Recorder) -> list[tuple[str, str]]:
    parsed = [BytesParser(policy=policy.default).parsebytes(raw) for raw in handler.received]
    return [(str(m["To"]), str(m["Subject"])) for m in parsed]


def test_immediate_alerts_go_out_as_one_message_per_batch_and_never_twice(tmp_path: Path) -> None:
    handler = Recorder()
    with smtp_server(handler) as port, State(tmp_path / "state.db") as state:
        config = _config(tmp_path, port)
        _queue_item(state, config, 1, "Ships cross", T0)
        _queue_item(state, config, 2, "Insurers pull cover", T0)
        sender = Sender(config, state)
        assert asyncio.run(sender.send_due(T0)) == 2  # one per recipient, both items in each
        assert sorted(_subjects(handler)) == [
            ("desk@example.org", "caspian: 2 new articles"),
            ("editor@example.org", "caspian: 2 new articles"),
        ]
        assert asyncio.run(sender.send_due(T0 + 10)) == 0
        _queue_item(state, config, 3, "Freighter held", T0 + 20)
        assert asyncio.run(sender.send_due(T0 + 20)) == 2
        assert ("desk@example.org", "caspian: Freighter held") in _subjects(handler)
        assert len(handler.received) == 4
        assert state.outbox_counts() == {"pending": 0, "sent": 6, "failed": 0}


def test_a_digest_waits_for_its_time(tmp_path: Path) -> None:
    handler = Recorder()
    with smtp_server(handler) as port, State(tmp_path / "state.db") as state:
        config = _config(tmp_path, port, mode="digest", every="1h")
        sender = Sender(config, state)
        _queue_item(state, config, 1, "Ships cross", T0)
        assert asyncio.run(sender.send_due(T0 + 60)) == 0
        _queue_item(state, config, 2, "Insurers pull cover", T0 + 120)
        assert asyncio.run(sender.send_due(T0 + 1800)) == 0
        assert asyncio.run(sender.send_due(T0 + 3601)) == 2
        assert {s for _, s in _subjects(handler)} == {"caspian: 2 new articles"}
        _queue_item(state, config, 3, "Freighter held", T0 + 3700)
        assert asyncio.run(sender.send_due(T0 + 3700)) == 0  # the next digest is an hour later
        assert asyncio.run(sender.send_due(T0 + 3601 + 3600)) == 2


def test_a_digest_on_a_cron_schedule(tmp_path: Path) -> None:
    handler = Recorder()
    with smtp_server(handler) as port, State(tmp_path / "state.db") as state:
        config = _config(tmp_path, port, mode="digest", cron="0 7 * * *", timezone="UTC")
        sender = Sender(config, state)
        six = T0 - (T0 % 86400) + 6 * 3600  # 06:00 UTC on the day of T0
        _queue_item(state, config, 1, "Ships cross", six)
        assert asyncio.run(sender.send_due(six + 1800)) == 0
        assert asyncio.run(sender.send_due(six + 3600 + 1)) == 2


def test_smtp_down_then_up_delivers_everything_once(tmp_path: Path) -> None:
    with State(tmp_path / "state.db") as state:
        down = _config(tmp_path, closed_port())
        _queue_item(state, down, 1, "Ships cross", T0)
        assert asyncio.run(Sender(down, state).send_due(T0)) == 0
        assert state.outbox_counts()["pending"] == 2
        rows = state.pending_alerts(T0 + 3600)
        assert all(r.attempts == 1 and "refused" in (r.last_error or "").lower() for r in rows)
        # not before the back-off
        assert state.pending_alerts(T0 + 1) == []
        handler = Recorder()
        with smtp_server(handler) as port:
            up = _config(tmp_path, port)
            assert asyncio.run(Sender(up, state).send_due(T0 + 61)) == 2
            assert asyncio.run(Sender(up, state).send_due(T0 + 7200)) == 0
        assert len(handler.received) == 2


@pytest.mark.parametrize(
    ("reply", "pending", "failed"),
    [
        ("451 4.3.0 try again later", 2, 0),
        ("550 5.1.1 no such user", 0, 2),
    ],
)
def test_temporary_replies_are_retried_and_permanent_ones_fail(
    tmp_path: Path, reply: str, pending: int, failed: int
) -> None:
    handler = Recorder(data_reply=reply)
    with smtp_server(handler) as port, State(tmp_path / "state.db") as state:
        config = _config(tmp_path, port)
        _queue_item(state, config, 1, "Ships cross", T0)
        assert asyncio.run(Sender(config, state).send_due(T0)) == 0
        counts = state.outbox_counts()
        assert (counts["pending"], counts["failed"]) == (pending, failed)
        if failed:
            assert "550" in (state.failed_alerts()[0].last_error or "")


def test_slow_data_within_the_timeout_is_delivered_once(tmp_path: Path) -> None:
    handler = SlowRecorder(delay=1.0)
    with smtp_server(handler) as port, State(tmp_path / "state.db") as state:
        config = _config(tmp_path, port)  # timeout 2s
        _queue_item(state, config, 1, "Ships cross", T0)
        assert asyncio.run(Sender(config, state).send_due(T0)) == 2
        assert asyncio.run(Sender(config, state).send_due(T0 + 7200)) == 0
    assert len(handler.received) == 2 and state_counts(tmp_path)["sent"] == 2


def test_a_reply_lost_to_slow_data_is_retried_as_the_same_message(tmp_path: Path) -> None:
    """The server takes the message but answers the final "." after the client gave up: the
    rows are deferred with back-off and retried as the same message, same Message-ID, so the
    copy can be recognised downstream; nothing is lost."""
    handler = SlowRecorder(delay=3.5)
    with smtp_server(handler) as port, State(tmp_path / "state.db") as state:
        config = _config(tmp_path, port)  # timeout 2s
        _queue_item(state, config, 1, "Ships cross", T0)
        assert asyncio.run(Sender(config, state).send_due(T0)) == 0
        rows = state.pending_alerts(T0 + 3600)
        assert len(rows) == 2 and all(r.attempts == 1 and r.message_key for r in rows)
        assert "timed out" in (rows[0].last_error or "").lower()
        assert state.pending_alerts(T0 + 1) == []  # the back-off holds
        _queue_item(state, config, 2, "Freighter held", T0 + 30)  # a new item meanwhile
        handler.delay = 0
        assert asyncio.run(Sender(config, state).send_due(T0 + 61)) == 4
        assert state.outbox_counts() == {"pending": 0, "sent": 4, "failed": 0}
    time.sleep(4)  # the slow replies of the first attempt have landed by now
    parsed = [BytesParser(policy=policy.default).parsebytes(raw) for raw in handler.received]
    by_id: dict[str, list[str]] = {}
    for message in parsed:
        by_id.setdefault(str(message["Message-ID"]), []).append(str(message["Subject"]))
    # two recipients: the first message twice each (its retry), the new item once each
    assert sorted(len(subjects) for subjects in by_id.values()) == [1, 1, 2, 2]
    assert all("Ships cross" in s[0] for s in by_id.values() if len(s) == 2)


def state_counts(tmp_path: Path) -> dict[str, int]:
    with State(tmp_path / "state.db") as state:
        return state.outbox_counts()


class SlowRecorder(Recorder):
    """Takes every message, but answers the final "." only after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.received.append(envelope.original_content)
        await asyncio.sleep(self.delay)
        return "250 2.0.0 OK"


def test_a_daemon_killed_while_sending_delivers_exactly_once_after_restart(
    site: LocalSite, tmp_path: Path
) -> None:
    """kill -9 while the SMTP server has not yet accepted: the restart delivers it, once."""
    three_stories(site)
    handler = HoldingRecorder()
    with smtp_server(handler) as port:
        settings = tmp_path / "crawler.toml"
        settings.write_text(f"""
{base_settings(tmp_path, site)}[[feeds]]
url = "{site.url("/feed.xml")}"
every = "1m"
[[topics]]
name = "caspian"
query = "Caspian"
alert = {{ to = ["desk@example.org"], mode = "immediate" }}
[mail]
transport = "smtp"
host = "127.0.0.1"
port = {port}
security = "none"
timeout = "30s"
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}
        first = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--settings", str(settings), "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert handler.in_data.wait(60), "the daemon never started sending"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        handler.hold = False
        handler.release.set()
        second = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--settings", str(settings), "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not handler.received:
                time.sleep(0.1)
            time.sleep(6)  # a further sender tick: nothing more must arrive
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    assert len(handler.received) == 1
    message = BytesParser(policy=policy.default).parsebytes(handler.received[0])
    assert message["Subject"] == "caspian: 3 new articles"
    report = json.loads(
        run_crawler("--settings", str(settings), "status", "--json", cwd=tmp_path).stdout
    )
    assert report["outbox"]["pending"] == 0 and report["outbox"]["sent"] == 3


class HoldingRecorder(Recorder):
    """Accepts nothing while `hold` is set: DATA waits (the client sees no reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = True
        self.in_data = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.hold:
            self.in_data.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 gone"
        return await super().handle_DATA(server, session, envelope)
