"""Worker processes for the CPU-heavy steps (feed parsing, extraction), so the event loop that
runs Scrapy and the scheduler never stalls on a 5 MB page or a 50,000-entry feed.

Workers are spawned children of the crawler process and, on Linux, are told to die with it:
a crawler killed with SIGKILL leaves no worker behind.

    workers = Workers(2)
    article = await workers.run(extract, body, url)
    workers.close()
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# Imported by each worker as it starts, so the first task does not pay for it. Sitemaps are
# parsed with Scrapy's parser: a worker imports it (and Scrapy, about 30 MiB) only when it parses
# its first sitemap.
PRELOAD = ("crawler.extract", "crawler.sources.feeds")
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
TERMINATE_WAIT = 1.0  # seconds a terminated worker has to exit before it is killed


def _start_worker(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the crawler died while this worker was starting
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the crawler's to handle
    for module in PRELOAD:
        importlib.import_module(module)


_POOLS: dict[int, Workers] = {}


def shared_workers(count: int) -> Workers:
    """The process's pool of `count` workers, started once and kept across passes (the demo and
    the benchmarks run several in one process); it ends with the process."""
    if count not in _POOLS:
        _POOLS[count] = Workers(count)
    return _POOLS[count]


class Workers:
    def __init__(self, count: int) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker process; its exceptions are raised here."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """End the workers now, abandoning what they are doing (a stop past its timeout): a
        task cut short raises `BrokenProcessPool` to its caller, and the pool is not used again
        (`shared_workers` makes a new one)."""
        processes = list((self.pool._processes or {}).values())  # the executor keeps no other list
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(TERMINATE_WAIT)
            if process.is_alive():
                process.kill()
                process.join()
        # Let the pool's manager thread see its workers gone and close its wake-up pipe now: at
        # interpreter exit, concurrent.futures wakes every manager thread and, racing one that
        # is closing that pipe, raises "Bad file descriptor" (a CPython 3.11 race).
        manager = getattr(self.pool, "_executor_manager_thread", None)
        if manager is not None:
            manager.join(TERMINATE_WAIT)
        for count, workers in list(_POOLS.items()):
            if workers is self:
                del _POOLS[count]
