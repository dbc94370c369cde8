"""Article-extraction benchmark: crawler.extract.extract against plain trafilatura, side by side.

Data: the article-extraction-benchmark folder (181 pages as html/<id>.html.gz and
ground-truth.json = {id: {"articleBody", "url"}}). The metric is the benchmark's own: both bodies
are cut into `\\w+` tokens (case kept) and compared as multisets of 4-token shingles; per page,
tp/fp/fn are divided by their sum so every page weighs the same; precision is averaged over pages
with tp+fp > 0, recall over pages with tp+fn > 0, and F1 is the harmonic mean of the two averages.

    python bench/extraction.py [DATA_FOLDER]

DATA_FOLDER defaults to ../shared/data/article-extraction-benchmark beside the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from crawler.extract import extract

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "article-extraction-benchmark"
SHINGLE = 4
_TOKEN = re.compile(r"\w+")


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
    title: str | None


def load_pages(data: Path) -> list[Page]:
    """The benchmark's pages with their expected bodies (and titles, where the data has them)."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Page(
            id=page_id,
            url=entry["url"],
            html=gzip.decompress((data / "html" / f"{page_id}.html.gz").read_bytes()),
            body=entry.get("articleBody") or "",
            title=entry.get("title"),
        )
        for page_id, entry in sorted(truth.items())
    ]


def ours(html: bytes, url: str) -> tuple[str, str | None]:
    article = extract(html, url)
    return (article.text, article.title) if article else ("", None)


def baseline(html: bytes, url: str) -> tuple[str, str | None]:
    return trafilatura.extract(html, url=url) or "", None


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    scores: Scores
    title_accuracy: float | None
    pages_per_second: float


def run(
    name: str, extractor: Callable[[bytes, str], tuple[str, str | None]], pages: list[Page]
) -> Run:
    """Extract every page, timing only the extractor, and score the results."""
    results, elapsed = [], 0.0
    for page in pages:
        start = time.perf_counter()
        results.append(extractor(page.html, page.url))
        elapsed += time.perf_counter() - start
    scores = summarise(
        score(text, page.body) for (text, _), page in zip(results, pages, strict=True)
    )
    titled = [
        (title, page.title) for (_, title), page in zip(results, pages, strict=True) if page.title
    ]
    title_accuracy = None
    if titled and any(title is not None for _, title in results):
        title_accuracy = sum(_same_title(got, want) for got, want in titled) / len(titled)
    return Run(name, scores, title_accuracy, len(pages) / elapsed if elapsed else 0.0)


def _same_title(got: str | None, want: str) -> bool:
    return " ".join((got or "").split()).casefold() == " ".join(want.split()).casefold()


def report(runs: list[Run], pages: list[Page]) -> str:
    """The side-by-side table, with the ratio of the first run to the second."""
    has_titles = any(page.title for page in pages)
    lines = [f"{len(pages)} pages", ""]
    lines.append(
        f"{'':<22}" + "".join(f"{run.name:>14}" for run in runs) + f"{'ours/baseline':>16}"
    )
    ours_run, base_run = runs[0], runs[1]
    rows: list[tuple[str, Callable[[Run], float | None]]] = [
        ("F1", lambda r: r.scores.f1),
        ("precision", lambda r: r.scores.precision),
        ("recall", lambda r: r.scores.recall),
        ("pages/second", lambda r: r.pages_per_second),
    ]
    if has_titles:
        rows.insert(3, ("title accuracy", lambda r: r.title_accuracy))
    for label, value in rows:
        cells = [value(run) for run in runs]
        line = f"{label:<22}" + "".join(f"{_fmt(cell):>14}" for cell in cells)
        mine, theirs = value(ours_run), value(base_run)
        ratio = f"{mine / theirs:.3f}" if mine is not None and theirs else "-"
        lines.append(line + f"{ratio:>16}")
    if not has_titles:
        lines += ["", "title accuracy: not measured (the ground truth has no titles)"]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value > 2 else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="benchmark folder")
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").is_file():
        print(f"no ground-truth.json in {args.data}", file=sys.stderr)
        return 2
    pages = load_pages(args.data)
    # first calls load lazy data (dateparser, language tables): keep them out of the timing
    ours(pages[0].html, pages[0].url)
    baseline(pages[0].html, pages[0].url)
    runs = [run("crawler", ours, pages), run("trafilatura", baseline, pages)]
    print(report(runs, pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
