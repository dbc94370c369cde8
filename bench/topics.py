"""Topic matching benchmark: the compiled matcher against one regex search per term and topic.

Topics are generated, seeded, from the 181 article bodies of the extraction benchmark
(<repo>/../shared/data/article-extraction-benchmark/ground-truth.json): 2-6 terms each, words
drawn from the bodies (document frequency 2-30 %, so many topics match somewhere), real
two-word phrases, OR groups, at least two AND-ed clauses, exclusions, a few ``title:`` /
``url:`` fields, proximity phrases, trailing wildcards, some ``stem`` and ``min_count`` topics.
Each article is a Document of its body, its URL, and its first sentence as the title.

The baseline evaluates every topic separately: each term is a compiled regex searched in the
folded field text (no stemming), and the boolean tree is walked per topic. It is slow, so it is
timed over the first ``--baseline-articles`` articles only.

Prints matcher build time and memory, articles/s for both, and the ratio.

    .venv/bin/python bench/topics.py [--topics 10000] [--baseline-articles 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.topics import Document, Matcher, Topic, parse_query  # noqa: E402
from crawler.topics.query import And, Lang, Node, Not, Or, Term  # noqa: E402
from crawler.topics.text import fold, tokenize  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "article-extraction-benchmark" / "ground-truth.json"
SEED = 20240611


def load_documents(path: Path = DATA) -> list[Document]:
    truth = json.loads(path.read_text(encoding="utf-8"))
    documents = []
    for entry in truth.values():
        body = entry["articleBody"]
        title = re.split(r"(?<=[.!?])\s|\n", body.strip(), maxsplit=1)[0][:120]
        documents.append(Document(title=title, text=body, url=entry["url"], lang="en"))
    return documents


def vocabulary(documents: list[Document]) -> tuple[list[str], list[str]]:
    """Words with a document frequency of 2-30 %, and two-word phrases seen in 2+ bodies."""
    words: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for doc in documents:
        tokens = [t for t in tokenize(doc.text) if t.isalpha()]
        words.update({t for t in tokens if len(t) >= 4})
        pairs.update({f"{a} {b}" for a, b in pairwise(tokens)})
    low, high = 0.02 * len(documents), 0.3 * len(documents)
    vocab = sorted(w for w, df in words.items() if low <= df <= high)
    chosen = set(vocab)
    phrases = sorted(p for p, df in pairs.items() if df >= 2 and set(p.split()) & chosen)
    return vocab, phrases


def make_topics(count: int, vocab: list[str], phrases: list[str], seed: int) -> list[Topic]:
    rng = random.Random(seed)

    def term() -> str:
        roll = rng.random()
        if roll < 0.15:
            text = f'"{rng.choice(phrases)}"'
        elif roll < 0.20:
            text = f'"{rng.choice(vocab)} {rng.choice(vocab)}"~{rng.randint(2, 8)}'
        elif roll < 0.27:
            word = rng.choice(vocab)
            text = word[: rng.randint(4, max(4, len(word) - 1))] + "*"
        else:
            text = rng.choice(vocab)
        roll = rng.random()
        if roll < 0.06:
            return "title:" + text
        if roll < 0.09:
            return "url:" + text
        return text

    topics = []
    for index in range(count):
        terms = [term() for _ in range(rng.randint(2, 6))]
        excluded = terms.pop() if len(terms) >= 3 and rng.random() < 0.3 else None
        clauses: list[str] = []
        while terms:  # at least two AND-ed clauses: a topic is never one bare OR group
            if len(terms) >= (2 if clauses else 3) and rng.random() < 0.4:
                size = rng.randint(2, min(3, len(terms) - (0 if clauses else 1)))
                clauses.append("(" + " OR ".join(terms[:size]) + ")")
                del terms[:size]
            else:
                clauses.append(terms.pop(0))
        query = rng.choice([" ", " AND "]).join(clauses)
        if excluded:
            query += rng.choice([" -", " AND NOT "]) + excluded
        stem = rng.random() < 0.1
        min_count = 2 if rng.random() < 0.1 else 1
        topics.append(Topic(f"topic-{index}", query, stem=stem, min_count=min_count))
    return topics


Evaluate = Callable[[dict[str, str]], bool]


def baseline_topic(topic: Topic) -> Evaluate:
    """One topic as per-term compiled regexes over folded field texts."""

    def compile_node(node: Node) -> Evaluate:
        if isinstance(node, Term):
            pattern = re.compile(_regex(node))
            fields, needed = node.fields, topic.min_count
            if needed == 1:
                return lambda texts: any(pattern.search(texts[f]) for f in fields)
            return lambda texts: sum(len(pattern.findall(texts[f])) for f in fields) >= needed
        if isinstance(node, Lang):
            return lambda texts: texts["lang"] == node.code
        if isinstance(node, Not):
            inner = compile_node(node.child)
            return lambda texts: not inner(texts)
        children = [compile_node(child) for child in node.children]
        if isinstance(node, Or):
            return lambda texts: any(child(texts) for child in children)
        assert isinstance(node, And)
        return lambda texts: all(child(texts) for child in children)

    return compile_node(parse_query(topic.query).root)


def _regex(term: Term) -> str:
    words = [re.escape(token) for token in term.tokens]
    if term.slop is not None and len(words) == 2:
        gap = rf"(?:\W+\w+){{0,{term.slop}}}\W+"
        a, b = words
        return rf"(?<!\w)(?:{a}{gap}{b}|{b}{gap}{a})(?!\w)"
    end = "" if term.prefix else r"(?!\w)"
    return r"(?<!\w)" + r"\W+".join(words) + end


def resident_bytes() -> int:
    """Resident set size of this process (Linux), 0 where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--baseline-articles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--data", type=Path, default=DATA, help="the ground-truth.json")
    args = parser.parse_args()

    documents = load_documents(args.data)
    vocab, phrases = vocabulary(documents)
    topics = make_topics(args.topics, vocab, phrases, args.seed)
    print(f"{len(documents)} articles, {len(topics)} topics, vocabulary {len(vocab)} words")
    print(f"example topics: {' | '.join(t.query for t in topics[:4])}")

    rss = resident_bytes()
    start = time.perf_counter()
    matcher = Matcher(topics)
    build = time.perf_counter() - start
    rss = resident_bytes() - rss
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    traced = Matcher(topics)
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del traced
    print(
        f"matcher build: {build:.2f} s, memory {memory / 2**20:.1f} MiB (tracemalloc), "
        f"RSS +{rss / 2**20:.1f} MiB"
    )

    matcher.match(documents[0])  # builds the English stem channel
    best = float("inf")
    matched = 0
    for _ in range(3):
        start = time.perf_counter()
        matched = sum(len(matcher.match(doc)) for doc in documents)
        best = min(best, time.perf_counter() - start)
    fast = len(documents) / best
    print(
        f"matcher:  {fast:8.1f} articles/s over {len(documents)} articles "
        f"({1000 * best / len(documents):.2f} ms each, {matched / len(documents):.1f} topics "
        "matched per article)"
    )

    subset = documents[: args.baseline_articles]
    evaluators = [baseline_topic(topic) for topic in topics]
    start = time.perf_counter()
    slow_matched = 0
    for doc in subset:
        texts = {
            "title": fold(doc.title),
            "text": fold(doc.text),
            "url": fold(doc.url),
            "source": fold(doc.source),
            "author": fold(doc.author),
            "lang": doc.lang,
        }
        slow_matched += sum(evaluate(texts) for evaluate in evaluators)
    slow = len(subset) / (time.perf_counter() - start)
    fast_matched = sum(len(matcher.match(doc)) for doc in subset)
    print(
        f"baseline: {slow:8.1f} articles/s over the first {len(subset)} articles "
        f"(per-term regexes, topic by topic)"
    )
    print(
        f"matches on those articles: matcher {fast_matched}, baseline {slow_matched} "
        "(the baseline does not stem and reads possessives and phrases more strictly)"
    )
    print(f"speed-up: {fast / slow:.0f}x")


if __name__ == "__main__":
    main()
