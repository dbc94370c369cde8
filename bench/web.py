"""Web app benchmark: every page of `crawler serve` over a state of 100,000 archived articles.

Seeds a state database through `crawler.state.State` (the same calls the pipelines make):
`--articles` archived articles (seeded words, ~150 a body, over the last 7 days), a fifth of them
queued as items, each with one of three topics, from 20 feeds, with some also-reported copies.
Then serves the app with uvicorn on 127.0.0.1 (port 0) in this process and times each page over
HTTP: the median and the 95th percentile of `--rounds` requests, after one warm-up request.

Baselines measured in the same run: a bare Starlette response on the same server stack (what
any page costs at least), and for search a plain SQLite `LIKE '%word%'` scan over the archive's
texts (what a search without the FTS5 index costs).

    .venv/bin/python bench/web.py [--articles 100000] [--rounds 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from ulid import ULID  # noqa: E402

from crawler.config import settings_from_dict  # noqa: E402
from crawler.schedule import PollOutcome  # noqa: E402
from crawler.state import ItemRecord, State  # noqa: E402
from crawler.web.app import create_app  # noqa: E402

TOPICS = {
    "caspian-arms": 'caspian AND (drone* OR "artillery shells")',
    "grain": "grain AND (export* OR harvest)",
    "elections": "election* -football",
}
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "was",
    "were",
    "said",
    "would",
    "has",
    "have",
    "this",
    "officials",
    "government",
    "minister",
    "ministry",
    "port",
    "ships",
    "cargo",
    "border",
    "talks",
    "week",
    "year",
    "market",
    "prices",
    "analysts",
    "report",
    "data",
    "shipping",
    "sea",
    "coast",
    "city",
    "region",
    "people",
    "police",
    "court",
    "law",
    "bank",
    "energy",
    "oil",
    "gas",
    "power",
    "company",
    "workers",
    "union",
    "strike",
    "budget",
    "tax",
    "trade",
    "deal",
    "summit",
    "leaders",
    "vote",
    "match",
    "coach",
    "league",
    "parliament",
    "opposition",
    "protest",
    "weather",
    "storm",
    "flood",
    "rain",
]
# Words of the topics, each in a few per cent of the articles (as on a real feed list); one
# rare word, for the search baselines.
TOPICAL = {
    "caspian drones shipped across the sea": 0.03,
    "caspian artillery shells": 0.01,
    "grain exports": 0.03,
    "grain harvest": 0.02,
    "election campaign": 0.04,
    "football election of the coach": 0.01,
    "zanzibar": 0.0005,
}


def seed(path: Path, articles: int, feeds: list[str], rng: random.Random) -> list[str]:
    """Fill the state database; returns the ids of the items."""
    now = time.time()
    ids: list[str] = []
    with State(path) as state, state.transaction():
        for n, url in enumerate(feeds):  # 15 polled, 2 failing, 3 never polled
            row = state.source("feed", url, f"Outlet {n}")
            for _ in range(3 if n in (4, 9) else 1 if n < 15 else 0):
                error = "HTTP 503" if n in (4, 9) else None
                outcome = PollOutcome(
                    status=503 if error else 200,
                    polled_at=now - 60,
                    next_poll_at=now + 600,
                    error=error,
                    new_entries=0 if error else 3,
                )
                state.record_poll(row.id, outcome)
        for n in range(articles):
            fetched = now - (articles - n) * (7 * 86400 / articles)
            words = rng.choices(WORDS, k=150)
            for phrase, share in TOPICAL.items():
                if rng.random() < share:
                    at = rng.randrange(len(words))
                    words[at:at] = phrase.split()
            title = " ".join(rng.choices(WORDS, k=8)).capitalize()
            url = f"https://news{n % 20}.example/{n}.html"
            source = {"kind": "feed", "url": feeds[n % 20], "name": f"Outlet {n % 20}"}
            record = {
                "url": url,
                "title": title,
                "text": " ".join(words),
                "source": source,
                "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(fetched)),
                "language": "en",
                "author": None,
                "summary": None,
            }
            state.archive_article(record, now=fetched)
            if n % 5:
                continue
            item_id = str(ULID())
            topic = list(TOPICS)[n % 3]
            state.record_article(
                urls=[url],
                outcome="queued",
                now=fetched,
                item=ItemRecord(
                    item_id, url, None, title, source["name"], source["url"], None, None, (topic,)
                ),
            )
            if n % 50 == 0:
                state.record_also_reported(
                    item_id, f"https://copy.example/{n}", "Copy Desk", fetched
                )
            ids.append(item_id)
    return ids


def serve(app: object) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def timed(url: str, rounds: int) -> tuple[float, float]:
    """(median, p95) milliseconds of GET url."""
    urllib.request.urlopen(url, timeout=60).read()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            assert response.status == 200
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def like_scan(path: Path, word: str, rounds: int) -> float:
    """Median ms of a LIKE scan for `word` over the archive's texts, newest 50."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        db.execute(
            "SELECT url FROM archive_search WHERE text LIKE ? ORDER BY rowid DESC LIMIT 50",
            (f"%{word}%",),
        ).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    db.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the seeded output folder here")
    args = parser.parse_args()
    rng = random.Random(15)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-web-"))
    feeds = [f"https://news{n}.example/rss.xml" for n in range(20)]
    config = settings_from_dict(
        {
            "output": {"dir": str(folder)},
            "feeds": [{"url": url, "name": f"Outlet {n}"} for n, url in enumerate(feeds)],
            "topics": [{"name": name, "query": query} for name, query in TOPICS.items()],
        }
    )
    started = time.perf_counter()
    ids = seed(config.output.state_path, args.articles, feeds, rng)
    seeded = time.perf_counter() - started
    size = config.output.state_path.stat().st_size / 1e6
    print(
        f"seeded {args.articles:,} archived articles, {len(ids):,} items in {seeded:.0f} s "
        f"(state.db {size:.0f} MB)"
    )

    bare = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("ok")),
            Mount("/app", create_app(config)),
        ]
    )
    base, server, thread = serve(bare)
    baseline, _ = timed(base + "/", args.rounds)
    app = base + "/app"
    pages = {
        "overview /": "/",
        "items /items": "/items",
        "items of a topic": "/items?topic=grain",
        "items of a source and day": f"/items?source={feeds[3]}&date="
        + time.strftime("%Y-%m-%d", time.gmtime()),
        "item page": f"/items/{ids[len(ids) // 2]}",
        "sources /sources": "/sources",
        "topics /topics": "/topics",
        "topic tester, 7 days": "/topics/test?q=caspian+AND+drone*&since=7d",
        "topic tester, 1 day, every article": "/topics/test?q=caspian+AND+drone*&since=1d&every=1",
        "Atom /items.atom": "/items.atom",
        "Atom /topics/grain.atom": "/topics/grain.atom",
        "API /api/status": "/api/status",
        "/metrics": "/metrics",
        "search: common word": "/items?q=ships",
        "search: rare word": "/items?q=zanzibar",
        "search: two words": "/items?q=caspian+drones",
        "search: prefix": "/items?q=harv*",
        "search API": "/api/items?q=grain+exports",
    }
    print(f"\nbaseline: bare Starlette response {baseline:.1f} ms (median of {args.rounds})\n")
    print(f"{'page':<36} {'median ms':>10} {'p95 ms':>8} {'÷ bare':>8}")
    for name, path in pages.items():
        median, p95 = timed(app + path, args.rounds)
        print(f"{name:<36} {median:>10.1f} {p95:>8.1f} {median / baseline:>8.1f}")
    for word in ("ships", "caspian", "zanzibar"):
        like = like_scan(config.output.state_path, word, max(3, args.rounds // 4))
        fts, _ = timed(app + f"/api/items?q={word}", args.rounds)
        print(
            f"\nsearch '{word}': FTS5 via the API {fts:.1f} ms, plain LIKE scan {like:.1f} ms "
            f"(LIKE / FTS5 = {like / fts:.1f}x)"
        )
    server.should_exit = True
    thread.join(10)
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
