"""`crawler run` as a real process for tests, and waiting for what it does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


class Daemon:
    """`crawler run`; `launcher` replaces `-m crawler.cli`, e.g. a script that injects faults;
    `env` is added to the environment (without the test run's own CRAWLER_ variables)."""

    def __init__(
        self,
        settings: Path,
        cwd: Path,
        launcher: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")} | (env or {})
        self.log_path = cwd / f"daemon-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop())
        command = launcher or ["-m", "crawler.cli"]
        self.process = subprocess.Popen(
            [sys.executable, *command, "--settings", str(settings), "run"],
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()
