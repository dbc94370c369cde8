"""What /proc says of a process, for the benchmarks' memory figures: resident memory, its
children, its process group, open files and threads (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path


def _status(pid: int, field: str) -> int:
    """A number from /proc/PID/status (`VmRSS` in KiB, `Threads`), 0 for a process gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident memory of one process, KiB."""
    return _status(pid, "VmRSS")


def threads(pid: int) -> int:
    return _status(pid, "Threads")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process, KiB: PSS divides shared pages among the processes sharing them."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _processes() -> list[tuple[int, list[str]]]:
    """Every process with the fields of its /proc/PID/stat after the command name."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            found.append((int(entry), fields))
    return found


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    return [child for child, fields in _processes() if int(fields[1]) == pid]


def tree_rss_mib(pid: int) -> float:
    """Resident memory of `pid` and its children, MiB."""
    return sum(rss_kib(p) for p in [pid, *children(pid)]) / 1024


def group_rss_kib(pgid: int) -> int:
    """Resident memory of every process in the process group `pgid`, KiB."""
    return sum(rss_kib(p) for p, fields in _processes() if int(fields[2]) == pgid)
