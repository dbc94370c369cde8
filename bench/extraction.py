"""Article-extraction benchmark: crawler.extract.extract against plain trafilatura, side by side.

Data: the article-extraction-benchmark folder (181 pages as html/<id>.html.gz and
ground-truth.json = {id: {"articleBody", "url"}}). The metric is the benchmark's own: both bodies
are cut into `\\w+` tokens (case kept) and compared as multisets of 4-token shingles; per page,
tp/fp/fn are divided by their sum so every page weighs the same; precision is averaged over pages
with tp+fp > 0, recall over pages with tp+fn > 0, and F1 is the harmonic mean of the two averages.

Headline, publication day and authors are scored against the hand-made labels in
bench/labels.json (the rule they follow is in bench/README.md): exact match after Unicode NFKC
normalisation and whitespace folding (authors also case folded, compared as sets of names).
Plain trafilatura is timed as `trafilatura.extract(html, url=url)`, its defaults; its metadata
comes from a second, separately timed run with `with_metadata=True`.

    python bench/extraction.py [DATA_FOLDER]
    python bench/extraction.py --end-to-end [DATA_FOLDER]

`--end-to-end` serves the pages from a local server with a feed listing them and times
`crawler once` on them (fetch, extraction in the worker pool, dedup, queue): pages per second
of the whole pass, with `--workers` extraction processes (2 by default).

DATA_FOLDER defaults to the shared article-extraction-benchmark folder beside the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trafilatura

from crawler.extract import extract

REPO_ROOT = Path(__file__).resolve().parent.parent
LABELS = Path(__file__).resolve().parent / "labels.json"
_DATA = Path("shared") / "data" / "article-extraction-benchmark"
DEFAULT_DATA = next(
    (base / _DATA for base in REPO_ROOT.parents if (base / _DATA).is_dir()),
    REPO_ROOT.parent / _DATA,
)
SHINGLE = 4
_TOKEN = re.compile(r"\w+")
ROUNDS = 3  # end to end: passes timed, the fastest reported (the machine is shared)


@dataclass(frozen=True, slots=True)
class PageScore:
    """One page's shared, predicted-only and true-only shingles, as shares of their sum."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Scores:
    """The benchmark's figures over a set of pages."""

    f1: float
    precision: float
    recall: float


def shingles(text: str) -> Counter[str]:
    """The multiset of 4-token shingles of a text (a shorter text is one shorter shingle)."""
    tokens = _TOKEN.findall(text)
    last = max(1, len(tokens) - SHINGLE + 1)
    return Counter(
        " ".join(tokens[i : i + SHINGLE]) for i in range(last) if tokens[i : i + SHINGLE]
    )


def score(pred: str, truth: str) -> PageScore:
    """Compare a predicted body with the true one on a single page."""
    predicted, true = shingles(pred), shingles(truth)
    tp = sum((predicted & true).values())
    fp = sum((predicted - true).values())
    fn = sum((true - predicted).values())
    total = tp + fp + fn
    return PageScore(tp / total, fp / total, fn / total) if total else PageScore(0.0, 0.0, 0.0)


def summarise(pages: Iterable[PageScore]) -> Scores:
    """Average precision and recall over the pages where each is defined; F1 of the averages."""
    pages = list(pages)
    precision = statistics.fmean([p.precision for p in pages if p.tp + p.fp > 0] or [0.0])
    recall = statistics.fmean([p.recall for p in pages if p.tp + p.fn > 0] or [0.0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(f1, precision, recall)


@dataclass(frozen=True, slots=True)
class Page:
    id: str
    url: str
    html: bytes
    body: str
    label: dict[str, object]  # from bench/labels.json: title, published, authors where stated


def load_pages(data: Path, labels: Path = LABELS) -> list[Page]:
    """The benchmark's pages with their expected bodies and hand-made metadata labels."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    labelled = json.loads(labels.read_text(encoding="utf-8")) if labels.is_file() else {}
    return [
        Page(
            id=page_id,
            url=entry["url"],
            html=gzip.decompress((data / "html" / f"{page_id}.html.gz").read_bytes()),
            body=entry.get("articleBody") or "",
            label=labelled.get(page_id, {}),
        )
        for page_id, entry in sorted(truth.items())
    ]


@dataclass(frozen=True, slots=True)
class Result:
    """What an extractor found on one page."""

    text: str
    title: str | None = None
    published: str | None = None
    author: str | None = None


def ours(html: bytes, url: str) -> Result:
    article = extract(html, url)
    if article is None:
        return Result("")
    return Result(article.text, article.title, article.published, article.author)


def baseline(html: bytes, url: str) -> Result:
    return Result(trafilatura.extract(html, url=url) or "")


def baseline_metadata(html: bytes, url: str) -> Result:
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if not isinstance(document, trafilatura.settings.Document):
        return Result("")
    return Result(document.text or "", document.title, document.date, document.author)


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    scores: Scores
    pages_per_second: float
    accuracy: dict[str, float | None]  # title, date, authors: share of labelled pages right


def run_all(
    extractors: Mapping[str, Callable[[bytes, str], Result]], pages: list[Page]
) -> list[Run]:
    """Extract every page with each extractor in turn, page by page (the order rotating), so
    that a load on the machine weighs on all of them alike; time only the extractor calls."""
    results: dict[str, list[Result]] = {name: [] for name in extractors}
    elapsed = dict.fromkeys(extractors, 0.0)
    names = list(extractors)
    for index, page in enumerate(pages):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            start = time.perf_counter()
            results[name].append(extractors[name](page.html, page.url))
            elapsed[name] += time.perf_counter() - start
    return [_scored(name, results[name], elapsed[name], pages) for name in names]


def _scored(name: str, results: list[Result], elapsed: float, pages: list[Page]) -> Run:
    pairs = list(zip(results, pages, strict=True))
    scores = summarise(score(result.text, page.body) for result, page in pairs)
    accuracy = {
        field: _accuracy(pairs, field, same)
        for field, same in (
            ("title", same_title),
            ("published", same_day),
            ("authors", same_authors),
        )
    }
    return Run(name, scores, len(pages) / elapsed if elapsed else 0.0, accuracy)


def _accuracy(
    pairs: list[tuple[Result, Page]], field: str, same: Callable[[Result, object], bool]
) -> float | None:
    """The share of the pages labelled with `field` where the extractor found the same."""
    labelled = [(result, page.label[field]) for result, page in pairs if field in page.label]
    if not labelled or all(result.title is None for result, _ in labelled):
        return None  # the extractor does not give metadata at all
    return sum(same(result, want) for result, want in labelled) / len(labelled)


def _fold(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


def same_title(result: Result, want: object) -> bool:
    return result.title is not None and _fold(result.title) == _fold(str(want))


def same_day(result: Result, want: object) -> bool:
    return result.published is not None and result.published[:10] == want


def same_authors(result: Result, want: object) -> bool:
    def names(values: Iterable[str]) -> set[str]:
        return {_fold(name).casefold() for name in values if _fold(name)}

    got = re.split(r"[;,]", result.author or "")
    return isinstance(want, list) and names(got) == names(want)


def report(runs: list[Run], pages: list[Page]) -> str:
    """The side-by-side table, with the ratio of the first run to the second."""
    counts = {f: sum(f in page.label for page in pages) for f in ("title", "published", "authors")}
    lines = [f"{len(pages)} pages ({', '.join(f'{n} with {f}' for f, n in counts.items())})", ""]
    lines.append(
        f"{'':<22}" + "".join(f"{run.name:>14}" for run in runs) + f"{'ours/baseline':>16}"
    )
    ours_run, base_run = runs[0], runs[1]
    rows: list[tuple[str, Callable[[Run], float | None]]] = [
        ("F1", lambda r: r.scores.f1),
        ("precision", lambda r: r.scores.precision),
        ("recall", lambda r: r.scores.recall),
        ("title accuracy", lambda r: r.accuracy["title"]),
        ("date accuracy", lambda r: r.accuracy["published"]),
        ("author accuracy", lambda r: r.accuracy["authors"]),
        ("pages/second", lambda r: r.pages_per_second),
    ]
    for label, value in rows:
        cells = [value(run) for run in runs]
        line = f"{label:<22}" + "".join(f"{_fmt(cell):>14}" for cell in cells)
        mine, theirs = value(ours_run), value(base_run)
        ratio = f"{mine / theirs:.3f}" if mine is not None and theirs else "-"
        lines.append(line + f"{ratio:>16}")
    lines += [
        "",
        f"ratio: {runs[0].name} / {runs[1].name} (trafilatura.extract, text only); "
        f"{runs[2].name}: trafilatura with with_metadata=True, whose metadata is scored",
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value > 2 else f"{value:.4f}"


def end_to_end(pages: list[Page], workers: int) -> str:
    """`crawler once` on every page, listed in one feed on a local server: pages per second,
    with and without the pass's fixed cost (start-up, worker spawn, the feed poll), measured
    by a pass over an empty feed in the same run."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from support.localsite import LocalSite
    from support.pages import rss

    with LocalSite() as site:
        now = datetime.now(UTC)
        items = []
        for page in pages:
            link = site.route(f"/{page.id}.html", page.html)
            items.append({"title": page.id, "link": link, "guid": page.id, "published": now})
        site.route("/empty.xml", rss("empty", []), "application/rss+xml")
        site.route("/feed.xml", rss("benchmark", items), "application/rss+xml")
        rounds = [
            (_crawl_once(site, "/empty.xml", workers)[0], *_crawl_once(site, "/feed.xml", workers))
            for _ in range(ROUNDS)
        ]
    fixed = min(r[0] for r in rounds)  # each the least disturbed of its kind
    elapsed, queued = min((r[1], r[2]) for r in rounds)
    return (
        f"end to end, fastest of {ROUNDS} rounds: {len(pages)} pages through `crawler once` with "
        f"{workers} extraction workers in {elapsed:.1f} s ({queued} queued): "
        f"{len(pages) / elapsed:.1f} pages/second; without the {fixed:.1f} s of a pass over an "
        f"empty feed, {len(pages) / max(elapsed - fixed, 1e-9):.1f} pages/second"
    )


def _crawl_once(site: Any, feed: str, workers: int) -> tuple[float, int]:
    """Seconds of one `crawler once` over one feed, in a fresh output folder; items queued."""
    from support.runner import run_crawler

    with tempfile.TemporaryDirectory() as folder:
        settings = Path(folder) / "crawler.toml"
        settings.write_text(  # one host serves every page: let it take the pool's pace
            f'[output]\ndir = "{Path(folder) / "out"}"\n'
            f'[fetch]\nallow_hosts = ["{site.host}"]\ndelay = "0s"\nworkers = {workers}\n'
            f"per_domain = 16\n"
            f'[[feeds]]\nurl = "{site.url(feed)}"\n',
            encoding="utf-8",
        )
        start = time.perf_counter()
        done = run_crawler("--settings", str(settings), "once", cwd=Path(folder), timeout=600)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"crawler once failed ({done.returncode}): {done.stderr[-2000:]}")
        return elapsed, len(list((Path(folder) / "out" / "queue" / "new").glob("*.json")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="benchmark folder")
    parser.add_argument("--end-to-end", action="store_true", help="time `crawler once` instead")
    parser.add_argument("--workers", type=int, default=2, help="extraction workers (end to end)")
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").is_file():
        print(f"no ground-truth.json in {args.data}", file=sys.stderr)
        return 2
    pages = load_pages(args.data)
    if args.end_to_end:
        print(end_to_end(pages, args.workers))
        return 0
    extractors = {"crawler": ours, "trafilatura": baseline, "+metadata": baseline_metadata}
    # first calls load lazy data (dateparser, stop lists, language tables), as a long-running
    # worker has: one untimed pass over every page first
    run_all(extractors, pages)
    print(report(run_all(extractors, pages), pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
