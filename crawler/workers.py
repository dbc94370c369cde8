"""The pool of worker processes for the CPU-heavy steps (feed parsing, extraction), so the
event loop that runs Scrapy and the scheduler never stalls on a 5 MB page or a 50,000-entry
feed. Only the workers load the parsers (trafilatura, feedparser): the crawler process names
the work (`crawler.worker.extract_article`, `crawler.sources.feeds.new_entries`) without
importing them.

Each worker is a plain child process running `crawler.worker.serve`, which reads
`(function, args)` from a socket, pickled in multiprocessing's framing, and answers with the
result or the exception. A worker that dies (killed, out of memory, a crash inside a parser)
costs only the task it held, which raises `WorkerExited`; a new worker takes its place.

    workers = Workers(2)
    article = await workers.run(extract_article, body, url)  # crawler.worker's
    workers.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from crawler.errors import WorkerExited

T = TypeVar("T")

TERMINATE_WAIT = 1.0  # seconds a terminated worker has to exit before it is killed


class _Worker:
    """One worker process and the parent's end of its socket."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        code = (  # the crawler's own import path, as multiprocessing's spawn passes it
            f"import sys; sys.path[:] = {sys.path!r}; from crawler.worker import serve; "
            f"serve({theirs.fileno()}, {os.getpid()})"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.connection = Connection(mine.detach())

    def call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            self.connection.send((function, args))
            ok, value = self.connection.recv()
        except (EOFError, OSError):  # its socket broke: it died, or is ended now
            code = self._reap()
            how = f"signal {-code}" if code < 0 else f"code {code}"
            raise WorkerExited(f"the worker process exited ({how}) during the task") from None
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def stop(self, *, now: bool = False) -> None:
        if now:
            self.process.terminate()
        else:
            with contextlib.suppress(OSError):  # already gone
                self.connection.send(None)
        self._reap()
        self.connection.close()

    def _reap(self) -> int:
        """Its exit code, once it has ended: killed if it has not after `TERMINATE_WAIT`."""
        try:
            return self.process.wait(TERMINATE_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


_POOLS: dict[int, Workers] = {}


def shared_workers(count: int) -> Workers:
    """The process's pool of `count` workers, started once and kept across passes (the demo and
    the benchmarks run several in one process); it ends with the process."""
    if count not in _POOLS:
        _POOLS[count] = Workers(count)
    return _POOLS[count]


class Workers:
    """`count` worker processes; a task waits for a free one. Each task runs on a thread of
    this process that waits for its worker's answer, so the pool serves any event loop."""

    def __init__(self, count: int) -> None:
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all = [_Worker() for _ in range(count)]
        for worker in self._all:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(count, thread_name_prefix="crawler-worker")
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker process; its exceptions are raised here, and
        `WorkerExited` when the worker died during the task."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._call, function, args)

    def _call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        worker = self._idle.get()
        try:
            return worker.call(function, args)
        except WorkerExited:
            worker = self._replace(worker)
            raise
        finally:
            self._idle.put(worker)

    def _replace(self, dead: _Worker) -> _Worker:
        dead.connection.close()
        with self._lock:
            if self._closed:
                return dead
            fresh = _Worker()
            self._all[self._all.index(dead)] = fresh
            return fresh

    def close(self) -> None:
        """Let the workers finish what they hold, then end them."""
        self._shut(now=False)

    def terminate(self) -> None:
        """End the workers now, abandoning what they are doing (a stop past its timeout): a
        task cut short raises `WorkerExited` to its caller, and the pool is not used again
        (`shared_workers` makes a new one)."""
        self._shut(now=True)
        for count, workers in list(_POOLS.items()):
            if workers is self:
                del _POOLS[count]

    def _shut(self, *, now: bool) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if now:  # ending the processes ends the tasks the threads wait on
            for worker in self._all:
                worker.stop(now=True)
        self._threads.shutdown(wait=True, cancel_futures=True)
        if not now:  # the tasks in hand are done: let the workers go
            for worker in self._all:
                worker.stop()
