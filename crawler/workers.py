"""Worker processes for the CPU-heavy steps (feed parsing, extraction), so the event loop that
runs Scrapy and the scheduler never stalls on a 5 MB page or a 50,000-entry feed.

    workers = Workers(2)
    article = await workers.run(extract, body, url)
    workers.close()
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# Imported once in the fork server, so each worker starts with them loaded.
PRELOAD = ["crawler.extract", "crawler.sources.feeds"]


class Workers:
    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self.pool = ProcessPoolExecutor(max_workers=count, mp_context=context)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker process; its exceptions are raised here."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
