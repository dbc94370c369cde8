"""Shared fixtures: a local web server and a way to run the `crawler` command for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemonproc import Daemon
from localsite import LocalSite
from redisserver import redis_server
from tlscert import Certificate, make_certificate


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as local:
        yield local


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server of this test's own, on 127.0.0.1 and a free port."""
    with redis_server(tmp_path / "redis") as url:
        yield url


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def base_settings(tmp_path: Path, site: LocalSite) -> str:
    """The start of a test's settings: output under tmp_path, `site` allowed, no politeness
    delay, one extraction worker. Tests add their sources and topics after it."""
    return (
        f'[output]\ndir = "{tmp_path / "out"}"\n'
        f'[fetch]\nallow_hosts = ["{site.host}"]\ndelay = "0s"\nworkers = 1\n'
    )


def run_crawler(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `crawler ARGS` as a separate process, as a user or cron would; `env` is added to
    the environment (without any CRAWLER_ variable of the test run's own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
        daemon.log.close()
