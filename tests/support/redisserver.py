"""A real Redis server for tests: `redis-server` on 127.0.0.1 and a free port, no persistence.

    with redis_server(tmp_path) as url:     # redis://127.0.0.1:<port>/0
        ...

`make test` installs Debian's redis-server when it is missing; without it these tests fail
with a message that says so (they are never skipped).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server process that can be stopped and started again on the same port; with
    `persist`, every write goes to an append-only file first, so a restart keeps the data."""

    def __init__(self, folder: Path, persist: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError(
                "redis-server is not installed: `make test` installs it "
                "(apt-get install redis-server)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        self.binary, self.folder, self.persist = binary, folder, persist
        self.process: subprocess.Popen[bytes] | None = None
        for _ in range(5):  # a port taken between the probe and the bind: try another
            self.port = _free_port()
            if self.start():
                break
        else:
            raise AssertionError("redis-server did not start")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> bool:
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else []
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                *durability,
                "--dir",
                str(self.folder),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        if _ready(self.port, self.process):
            return True
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()  # as a crash or a lost machine would: no goodbye to the clients
        self.process.wait()
        self.process = None


@contextmanager
def redis_server(folder: Path, persist: bool = False) -> Iterator[str]:
    server = RedisServer(folder, persist)
    try:
        yield server.url
    finally:
        server.stop()


def _ready(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False
