"""Shared fixtures: a local web server and a way to run the `crawler` command for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemonproc import Daemon
from support.localsite import LocalSite
from support.redisserver import redis_server
from support.tlscert import Certificate, make_certificate


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


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
        daemon.log.close()
