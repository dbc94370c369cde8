"""One worker process: its loop (`serve`) and the tasks the crawler hands it that live nowhere
else (`extract_article`). crawler/workers.py starts the processes and hands out the tasks.

A worker imports only what its tasks need (trafilatura, feedparser), never the crawler's
event loop, Scrapy or the state database, so each one costs little more than trafilatura.
On Linux it is told to die with the crawler: a crawler killed with SIGKILL leaves no worker
behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.article import Article

# Imported by each worker as it starts, so the first task does not pay for it. Sitemaps are
# parsed with Scrapy's parser: a worker imports it (and Scrapy, about 30 MiB) only when it parses
# its first sitemap.
PRELOAD = ("crawler.extract", "crawler.sources.feeds", "feedparser")
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def extract_article(body: bytes, url: str) -> Article | None:
    """`crawler.extract.extract`, imported in the worker that runs it."""
    from crawler.extract import extract

    return extract(body, url)


def serve(fd: int, parent: int) -> None:
    """A worker's life: answer tasks on the socket `fd` until it closes or says stop (None)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the crawler died while this worker was starting
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the crawler's to handle
    connection = Connection(fd)
    for module in PRELOAD:
        importlib.import_module(module)
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        if task is None:
            return
        function, args = task
        try:
            answer: tuple[bool, Any] = (True, function(*args))
        except Exception as exc:
            answer = (False, exc)
        try:
            connection.send(answer)
        except Exception as exc:  # an answer that does not pickle
            connection.send((False, RuntimeError(f"{function.__name__}: {exc!r}")))
