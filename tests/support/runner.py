"""Running the `crawler` command as a user or cron would, and the settings every test starts from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .localsite import LocalSite


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
