"""Worker processes: answers and errors come back, and a worker that dies costs only the task
it held, in the pool and in a running daemon."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from crawler.errors import WorkerExited
from crawler.workers import Workers

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import CASPIAN, WIRE, ago, article_page, rss
from support.procfs import children
from support.runner import base_settings


def test_answers_errors_and_a_dead_worker() -> None:
    workers = Workers(1)
    try:
        assert asyncio.run(workers.run(len, "abc")) == 3
        with pytest.raises(ValueError, match="invalid literal"):
            asyncio.run(workers.run(int, "x"))
        with pytest.raises(WorkerExited, match=r"exited \(code 3\)"):
            asyncio.run(workers.run(os._exit, 3))
        assert asyncio.run(workers.run(len, "abcd")) == 4  # a new worker took its place
    finally:
        workers.close()


def test_tasks_share_the_workers() -> None:
    workers = Workers(2)

    async def many() -> list[int]:
        return await asyncio.gather(*(workers.run(len, "x" * n) for n in range(20)))

    try:
        assert asyncio.run(many()) == list(range(20))
    finally:
        workers.close()


def test_terminate_abandons_a_task_in_hand() -> None:
    workers = Workers(1)

    async def cut_short() -> None:
        task = asyncio.ensure_future(workers.run(time.sleep, 30))
        await asyncio.sleep(1)
        await asyncio.get_running_loop().run_in_executor(None, workers.terminate)
        await task

    started = time.monotonic()
    with pytest.raises(WorkerExited):
        asyncio.run(cut_short())
    assert time.monotonic() - started < 10


def queued_titles(tmp_path: Path) -> set[str]:
    new = tmp_path / "out" / "queue" / "new"
    return {json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json")}


def test_a_worker_killed_in_a_running_daemon_costs_nothing(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon]
) -> None:
    site.route("/a.html", article_page("Grain through the Caspian", CASPIAN))
    site.route("/b.html", article_page("Insurers pull war cover", WIRE))
    entries = [{"title": "Grain", "link": site.url("/a.html"), "published": ago(1)}]
    site.route("/rss.xml", rss("Wire", entries), "application/rss+xml")
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site)
        + '[schedule]\nmin_every = "1s"\njitter = 0\n'
        + f'[[feeds]]\nurl = "{site.url("/rss.xml")}"\nevery = "1s"\n'
    )
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: "Grain through the Caspian" in queued_titles(tmp_path), what="story a")
    (worker,) = children(daemon.process.pid)  # the one extraction worker, nothing else
    os.kill(worker, signal.SIGKILL)  # as the out-of-memory killer would
    entries.append({"title": "Insurers", "link": site.url("/b.html"), "published": ago(1)})
    site.route("/rss.xml", rss("Wire", entries), "application/rss+xml")
    wait_for(lambda: "Insurers pull war cover" in queued_titles(tmp_path), what="story b")
    replacement = children(daemon.process.pid)
    assert len(replacement) == 1 and replacement != [worker]
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.output(), daemon.output()
