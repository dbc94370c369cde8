"""Near-duplicate benchmark: precision and recall of `crawler.neardup` on a labelled set.

The set is built from the 181 article bodies of the extraction benchmark
(<repo>/../shared/data/article-extraction-benchmark/ground-truth.json), seeded, so every run
builds the same one:

- positives: each body as another outlet or a later edit would carry it (a byline line, share
  and "Related:" lines, a new headline, a dropped or an added paragraph, a "Reporting by" line,
  a correction, the first 70-80 %, all wrappers at once); the right answer is the original.
- negatives: every original against the originals before it; and, for disjoint pairs of bodies
  that share the most rare words (the nearest thing to "the same subject" in the set): the pair
  as is, the pair with the same long disclaimer appended, the pair in the same wrappers
  (byline, disclaimer, share lines), and the second body with a background paragraph of the
  first appended. The right answer is "no duplicate".

Templated bulletins (tests/support/bulletins.py): eight families of reports written from one
template with other facts (earthquakes, market closes, sports results, weather warnings, company
results, election results, exchange rates, transit notices), seeded, 20 of each. The instances
of a family are negatives among themselves; wire copies of some of them (a credit line, a new
headline, a byline, the last paragraph cut) are positives; near twins (one figure, the weekday
or the place changed: the next reading, the same closure a week later, the same warning for
another region) are negatives against their family. The decision measured there, and on
the set above, is crawler/dedup.py's: near wording (the index) and facts that agree
(`crawler.fingerprint.agreement`, passed as `accept` to `find_or_add`).

Prints a precision/recall table over shingle sizes and thresholds, details at the chosen
setting, the same for the decision with facts over several rules on both sets and per
template family, throughput (signature + find + add), and the compact index against the
datasketch index it replaced (`tests/support/lshref.py`), in the same run: memory per 100,000
signatures (traced and resident, each in a process of its own), lookup time and whether every
answer is the same.

    .venv/bin/python bench/dedup.py [--memory-signatures N] [--data ground-truth.json]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import re
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.fingerprint import (  # noqa: E402
    MIN_SHARED_NAMES,
    MIN_SHARED_NUMBERS,
    Facts,
    agreement,
    normalize_text,
)
from crawler.neardup import (  # noqa: E402
    DEFAULT_THRESHOLD,
    NUM_PERM,
    SHINGLE_SIZE,
    NearDuplicateIndex,
    Signature,
    shingles,
    signature,
)
from crawler.state import State  # noqa: E402

from tests.support.bulletins import Bulletin, bulletin_families, near_twins, wire_copies  # noqa: E402
from tests.support.lshref import ReferenceIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "article-extraction-benchmark" / "ground-truth.json"
SEED = 20240611
SHINGLE_SIZES = (3, 4, 5)
WORD = re.compile(r"\w+")
REPLACEMENTS = ("twelve", "Thursday", "former", "eastern", "42", "ministry")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

NAMES = ("Maren Holt", "Tobias Achterberg", "Ines Valcourt", "Kwame Osei", "Lucia Ferrand")
AGENCIES = ("Northwire", "Meridian Press", "Lakeside News Service", "Harbor Wire")
CITIES = ("Lisbon", "Nairobi", "Winnipeg", "Tallinn", "Osaka")
DISCLAIMERS = (
    "This article is provided for general information only and does not constitute financial, "
    "legal or medical advice. Readers should consult a qualified professional before acting on "
    "any of the information above. The publisher accepts no liability for losses arising from "
    "the use of this material, and the views of contributors are their own and do not "
    "necessarily reflect those of the editorial board or its owners.",
    "Sign up for our free morning briefing to get the stories that matter delivered straight to "
    "your inbox every weekday. Our editors pick the most important news, analysis and opinion "
    "from around the world so you do not have to. You can unsubscribe at any time using the link "
    "at the bottom of every email, and we will never share your address with anyone else.",
    "We are committed to accuracy and fairness in everything we publish. If you believe we have "
    "made an error, please contact the standards desk through the form on our website and "
    "include a link to the article in question. Corrections are reviewed by a senior editor and "
    "published on this page together with a note explaining what was changed and when it was.",
)


@dataclass(frozen=True, slots=True)
class Doc:
    title: str
    text: str


@dataclass(slots=True)
class Labelled:
    """Documents and queries of the benchmark, with the right answer of each query."""

    originals: list[tuple[str, Doc]]
    positives: list[tuple[str, str, Doc]]  # (kind, key of the original, variant)
    negative_pairs: list[tuple[str, Doc, Doc]]  # (kind, indexed, query)


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


def headline(text: str, rng: random.Random) -> str:
    words = text.split()
    start = rng.randrange(max(1, min(len(words) - 8, 40)))
    return " ".join(words[start : start + 8]).capitalize()


def byline(rng: random.Random) -> str:
    return f"By {rng.choice(NAMES)}, {rng.choice(AGENCIES)}"


def reporting_by(rng: random.Random) -> str:
    a, b = rng.sample(NAMES, 2)
    return f"Reporting by {a} in {rng.choice(CITIES)}; Editing by {b}"


def share_lines(rng: random.Random, other: str) -> str:
    return f"Share this article\nRelated: {headline(other, rng)}"


def correction(text: str, rng: random.Random) -> str:
    """Three words changed and a correction note, as a newsroom re-publishes its own story."""
    spans = [m.span() for m in WORD.finditer(text)]
    for start, end in sorted(rng.sample(spans, min(3, len(spans))), reverse=True):
        text = text[:start] + rng.choice(REPLACEMENTS) + text[end:]
    return text + "\nCorrection: an earlier version of this story misstated a figure and a date."


def truncated(text: str, rng: random.Random) -> str:
    """The first 70-80 % of the text, cut after a word where the text has spaces."""
    head = text[: int(len(text) * rng.uniform(0.7, 0.8))]
    return head.rsplit(" ", 1)[0] if " " in head[-40:] else head


def positive_variants(
    text: str, bodies: list[str], rng: random.Random
) -> Iterator[tuple[str, Doc]]:
    title = headline(text, rng)
    other = rng.choice(bodies)
    yield "byline", Doc(title, f"{byline(rng)}\n{text}")
    yield "share+related", Doc(title, f"{text}\n{share_lines(rng, other)}")
    new_title = headline(other, rng)
    yield "new headline", Doc(new_title, f"{new_title}\n{text}")
    paras = paragraphs(text)
    total = len(text.split())
    droppable = [i for i, p in enumerate(paras) if i > 0 and len(p.split()) <= 0.3 * total]
    if droppable:
        drop = rng.choice(droppable)
        yield "drop paragraph", Doc(title, "\n".join(p for i, p in enumerate(paras) if i != drop))
    extra = [p for p in paragraphs(other) if 25 <= len(p.split()) <= 80 and p not in paras]
    if extra:
        at = rng.randrange(1, len(paras) + 1)
        added = [*paras[:at], rng.choice(extra), *paras[at:]]
        yield "add paragraph", Doc(title, "\n".join(added))
    yield "reporting by", Doc(title, f"{text}\n{reporting_by(rng)}")
    yield "correction", Doc(title, correction(text, rng))
    yield "first 70-80%", Doc(title, truncated(text, rng))
    wrapped = f"{byline(rng)}\n{text}\n{reporting_by(rng)}\n{share_lines(rng, other)}"
    yield "all wrappers", Doc(new_title, wrapped)


def same_subject_pairs(bodies: list[str]) -> list[tuple[int, int]]:
    """Disjoint pairs of bodies, most shared rare words (IDF-weighted) first."""
    words = [set(normalize_text(b).split()) for b in bodies]
    df = Counter(w for ws in words for w in ws)
    idf = {w: math.log(len(bodies) / n) for w, n in df.items() if 2 <= n <= 5}
    rare = [{w for w in ws if w in idf} for ws in words]
    scored = []
    for i, j in combinations(range(len(bodies)), 2):
        shared = rare[i] & rare[j]
        if shared:
            scored.append((sum(idf[w] for w in shared), i, j))
    used: set[int] = set()
    pairs = []
    for _score, i, j in sorted(scored, reverse=True):
        if i not in used and j not in used:
            used |= {i, j}
            pairs.append((i, j))
    return pairs


def build(bodies: list[str]) -> Labelled:
    rng = random.Random(SEED)
    originals = [(f"orig-{i:03d}", Doc(headline(b, rng), b)) for i, b in enumerate(bodies)]
    positives = [
        (kind, key, doc)
        for key, original in originals
        for kind, doc in positive_variants(original.text, bodies, rng)
    ]
    negatives: list[tuple[str, Doc, Doc]] = []
    for i, j in same_subject_pairs(bodies):
        a, b = originals[i][1], originals[j][1]
        negatives.append(("same subject", a, b))
        disclaimer = rng.choice(DISCLAIMERS)
        negatives.append(
            (
                "shared disclaimer",
                Doc(a.title, f"{a.text}\n{disclaimer}"),
                Doc(b.title, f"{b.text}\n{disclaimer}"),
            )
        )
        top, bottom = byline(rng), f"{rng.choice(DISCLAIMERS)}\n{share_lines(rng, a.text)}"
        negatives.append(
            (
                "shared wrappers",
                Doc(a.title, f"{top}\n{a.text}\n{bottom}"),
                Doc(b.title, f"{top}\n{b.text}\n{bottom}"),
            )
        )
        background = [p for p in paragraphs(a.text) if 20 <= len(p.split()) <= 80]
        if background:
            reused = f"{b.text}\n{rng.choice(background)}"
            negatives.append(("reused paragraph", a, Doc(b.title, reused)))
    return Labelled(originals, positives, negatives)


@dataclass(slots=True)
class Result:
    tp: int = 0
    fp: int = 0
    positives: int = 0
    negatives: int = 0
    missed: Counter[str] = field(default_factory=Counter)
    false: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 1.0


def evaluate(data: Labelled, sigs: dict[int, Signature], threshold: float) -> Result:
    """Run the duplicate decision for every query; sigs maps id(Doc) to its signature."""
    result = Result()
    index = NearDuplicateIndex(threshold)
    for key, doc in data.originals:
        result.negatives += 1
        if index.find(sigs[id(doc)]) is not None:
            result.fp += 1
            result.false["other original"] += 1
        index.add(key, sigs[id(doc)])
    for kind, key, doc in data.positives:
        result.positives += 1
        found = index.find(sigs[id(doc)])
        if found is not None and found.key == key:
            result.tp += 1
        else:
            result.missed[kind] += 1
            if found is not None:
                result.fp += 1
                result.false[f"{kind} (wrong original)"] += 1
    pairs = NearDuplicateIndex(threshold)
    for n, (_kind, indexed, _query) in enumerate(data.negative_pairs):
        pairs.add(f"neg-{n:04d}", sigs[id(indexed)])
    for kind, _indexed, query in data.negative_pairs:
        result.negatives += 1
        if pairs.find(sigs[id(query)]) is not None:
            result.fp += 1
            result.false[kind] += 1
    return result


def all_docs(data: Labelled) -> list[Doc]:
    docs = [doc for _key, doc in data.originals] + [doc for _k, _key, doc in data.positives]
    return docs + [d for _k, a, b in data.negative_pairs for d in (a, b)]


def exact_jaccard(data: Labelled, size: int) -> dict[str, list[float]]:
    """True Jaccard similarity of shingle sets for every labelled pair, by kind."""
    originals = dict(data.originals)
    sets: dict[int, set[str]] = {}

    def of(doc: Doc) -> set[str]:
        if id(doc) not in sets:
            sets[id(doc)] = shingles(normalize_text(doc.text).split(), size)
        return sets[id(doc)]

    def jaccard(a: Doc, b: Doc) -> float:
        return len(of(a) & of(b)) / len(of(a) | of(b))

    out: dict[str, list[float]] = defaultdict(list)
    for kind, key, doc in data.positives:
        out[f"+ {kind}"].append(jaccard(originals[key], doc))
    for kind, a, b in data.negative_pairs:
        out[f"- {kind}"].append(jaccard(a, b))
    return out


def throughput(data: Labelled) -> tuple[float, float]:
    """Articles per second: signature alone, and signature + find + add (every article is
    added, as if none were a duplicate)."""
    docs = [doc for _key, doc in data.originals] + [doc for _k, _key, doc in data.positives]
    start = time.perf_counter()
    sigs = [signature(d.title, d.text) for d in docs]
    sig_rate = len(docs) / (time.perf_counter() - start)
    index = NearDuplicateIndex()
    start = time.perf_counter()
    for n, doc in enumerate(docs):
        sig = signature(doc.title, doc.text)
        index.find(sig)
        index.add(f"doc-{n:05d}", sig)
    del sigs
    return sig_rate, len(docs) / (time.perf_counter() - start)


def _random_signatures(count: int, seed: int = SEED) -> Iterator[Signature]:
    """`count` signatures of random values, made a few thousand at a time."""
    rng = np.random.default_rng(seed)
    for start in range(0, count, 10_000):
        size = min(10_000, count - start)
        for values in rng.integers(0, 2**32, size=(size, NUM_PERM), dtype=np.uint32):
            yield Signature(hashvalues=values.tobytes())


def _resident() -> int:
    """Resident bytes of this process (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _filled_index(kind: str, count: int, folder: str, traced: bool) -> tuple[int, int]:
    """(traced bytes, resident bytes) an index of `kind` adds by holding `count` random
    signatures ("old": datasketch's MinHashLSH, "new": the compact index on a state database,
    "loaded": the compact index loaded from the database a "fill" process left, as after a
    restart).

    Random signatures put every band of every signature in a bucket of its own, the worst case
    (and the usual one: few bodies are near-duplicates). Keys are 26 characters long, as the
    item ids (ULIDs); the daemon's keys (content hashes) are 64."""
    state = State(Path(folder) / "state.db")
    if kind == "fill":  # for "loaded", in a process of its own
        with state.transaction():
            filling = NearDuplicateIndex.load(state)
            for n, sig in enumerate(_random_signatures(count)):
                filling.add(f"01J{n:023d}", sig)
        filling.save()
        return 0, 0
    rss = _resident()
    if traced:
        tracemalloc.start()
    index: ReferenceIndex | NearDuplicateIndex
    index = ReferenceIndex() if kind == "old" else NearDuplicateIndex.load(state)
    if kind != "loaded":
        with state.transaction():
            for n, sig in enumerate(_random_signatures(count)):
                index.add(f"01J{n:023d}", sig)
    used = tracemalloc.get_traced_memory()[0] if traced else 0
    if traced:
        tracemalloc.stop()
    assert len(index) == count
    return used, _resident() - rss


def _memory_child(
    kind: str, count: int, folder: str, traced: bool, out: multiprocessing.Queue
) -> None:
    out.put(_filled_index(kind, count, folder, traced))


def index_memory(kind: str, count: int, *, traced: bool) -> float:
    """MiB per 100,000 signatures of an index of `kind` (see `_filled_index`), traced by
    tracemalloc or resident, measured in a fresh process."""
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    with tempfile.TemporaryDirectory() as folder:
        for step in ("fill", kind) if kind == "loaded" else (kind,):
            child = spawn.Process(target=_memory_child, args=(step, count, folder, traced, out))
            child.start()
            used, resident = out.get()
            child.join()
    return (used if traced else resident) / count * 100_000 / 2**20


def compare_memory(count: int) -> None:
    """Memory of the old and the compact index, traced and resident, per 100,000 signatures."""
    print(f"index memory per 100,000 signatures ({count:,} random ones, a process each):")
    rows = (("old", "datasketch MinHashLSH"), ("new", "compact"), ("loaded", "compact, loaded"))
    for kind, name in rows:
        traced = index_memory(kind, count, traced=True)
        resident = index_memory(kind, count, traced=False)
        print(f"  {name:<24} {traced:7,.1f} MiB traced  {resident:7,.1f} MiB resident")


def compare_lookups(data: Labelled, background: int) -> None:
    """Lookup time of the old and the compact index, holding `background` random signatures
    plus the originals, over every labelled query (most of them copies, so candidates are
    verified); the compact index freshly loaded from its state database for each round, so
    each original's signature is first read from the database. Every answer must be the
    same."""
    originals = [(key, signature(doc.title, doc.text)) for key, doc in data.originals]
    queries = [signature(doc.title, doc.text) for _k, _key, doc in data.positives]
    queries += [sig for _key, sig in originals]
    queries += [signature(b.title, b.text) for _k, _a, b in data.negative_pairs]
    queries += list(_random_signatures(1_000, seed=SEED + 1))
    fill = list(_random_signatures(background))
    with tempfile.TemporaryDirectory() as folder:
        state = State(Path(folder) / "state.db")
        old, filling = ReferenceIndex(), NearDuplicateIndex.load(state)
        with state.transaction():
            for n, sig in enumerate(fill):
                old.add(f"bg-{n:06d}", sig)
                filling.add(f"bg-{n:06d}", sig)
            for key, sig in originals:
                old.add(key, sig)
                filling.add(key, sig)
        new = NearDuplicateIndex.load(state)  # keeps a snapshot: the next loads are quick
        timings: dict[str, list[float]] = {"old": [], "new": []}
        answers = {}
        for _round in range(5):  # alternating, the best round of each: less noise
            new = NearDuplicateIndex.load(state)  # its cache empty again
            for name, index in (("old", old), ("new", new)):
                start = time.perf_counter()
                answers[name] = [index.find(q) for q in queries]
                timings[name].append((time.perf_counter() - start) / len(queries))
        state.close()
    best = {name: min(times) for name, times in timings.items()}
    same = sum(a == b for a, b in zip(answers["old"], answers["new"], strict=True))
    found = sum(a is not None for a in answers["old"])
    print(
        f"lookups over {background:,} + {len(originals)} signatures, {len(queries):,} queries "
        f"({found:,} find an original): old {best['old'] * 1e6:.0f} us, "
        f"compact {best['new'] * 1e6:.0f} us a lookup "
        f"(old / compact = {best['old'] / best['new']:.2f}, best of 5 rounds); "
        f"same answers: {same:,} of {len(queries):,}"
    )


# -- the decision with facts: templated bulletins and the set above ---------------------------

TEMPLATE_SEED = 20261202
PER_FAMILY = 20
COPIED_PER_FAMILY = 5  # instances of each family that get wire copies
Rule = tuple[float, float] | None  # (min shared numbers, min shared names); None: words only
RULES: tuple[Rule, ...] = (
    None,
    (0.5, 0.5),
    (0.8, 0.8),
    (0.9, 0.8),
    (1.0, 0.5),
    (1.0, 0.7),
    (1.0, 0.8),
    (1.0, 0.9),
    (1.0, 1.0),
)
CHOSEN: Rule = (MIN_SHARED_NUMBERS, MIN_SHARED_NAMES)


@dataclass(slots=True)
class Templated:
    """The template families, and the wire copies of some of their instances."""

    families: dict[str, list[Bulletin]]
    copies: list[tuple[str, str, str, Bulletin]]  # (family, kind, key of the original, copy)
    twins: list[tuple[str, str, Bulletin]]  # (family, kind, twin): another story, nearly equal


def build_templated() -> Templated:
    rng = random.Random(TEMPLATE_SEED)
    families = bulletin_families(rng, PER_FAMILY)
    copies = [
        (family, kind, f"{family}-{n:02d}", copy)
        for family, bulletins in families.items()
        for n, bulletin in enumerate(bulletins[:COPIED_PER_FAMILY])
        for kind, copy in wire_copies(bulletin, rng)
    ]
    twins = [
        (family, kind, twin)
        for family, bulletins in families.items()
        for bulletin in bulletins
        for kind, twin in near_twins(bulletin, rng)
    ]
    return Templated(families, copies, twins)


def decide(
    index: NearDuplicateIndex,
    key: str,
    sig: Signature,
    facts_of: dict[str, Facts | None],
    rule: Rule,
    *,
    keep: bool = True,
) -> str | None:
    """crawler/dedup.py's decision: the key of the best earlier body whose wording is near and
    whose facts agree by `rule` (wording alone for None), or None after keeping `sig` under
    `key` (`keep=False`: a query only, taken out again)."""

    def same_facts(candidate: str, _similarity: float) -> bool:
        theirs, ours = facts_of.get(candidate), sig.facts
        if rule is None or theirs is None or ours is None:
            return True
        return agreement(ours, theirs, min_numbers=rule[0], min_names=rule[1]).agree

    match = index.find_or_add(key, sig, accept=same_facts)
    if match is not None:
        return match.key
    if keep:
        facts_of[key] = sig.facts
    else:
        index.remove(key)
    return None


def evaluate_with_facts(
    data: Labelled, sigs: dict[int, Signature], threshold: float, rule: Rule
) -> Result:
    """`evaluate` with the whole decision: near wording and facts that agree."""
    result = Result()
    facts_of: dict[str, Facts | None] = {}
    index = NearDuplicateIndex(threshold)
    for key, doc in data.originals:
        result.negatives += 1
        if decide(index, key, sigs[id(doc)], facts_of, rule) is not None:
            result.fp += 1
            result.false["other original"] += 1
    for n, (kind, key, doc) in enumerate(data.positives):
        result.positives += 1
        found = decide(index, f"q-{n}", sigs[id(doc)], facts_of, rule, keep=False)
        if found == key:
            result.tp += 1
        else:
            result.missed[kind] += 1
            if found is not None:
                result.fp += 1
                result.false[f"{kind} (wrong original)"] += 1
    pairs = NearDuplicateIndex(threshold)
    pair_facts: dict[str, Facts | None] = {}
    for n, (_kind, indexed, _query) in enumerate(data.negative_pairs):
        pairs.add(f"neg-{n:04d}", sigs[id(indexed)])
        pair_facts[f"neg-{n:04d}"] = sigs[id(indexed)].facts
    for n, (kind, _indexed, query) in enumerate(data.negative_pairs):
        result.negatives += 1
        if decide(pairs, f"q-{n}", sigs[id(query)], pair_facts, rule, keep=False):
            result.fp += 1
            result.false[kind] += 1
    return result


@dataclass(slots=True)
class FamilyResult:
    merged: int = 0  # bulletins merged into an earlier one of the family
    twins_merged: int = 0
    twins: int = 0
    copies_found: int = 0
    copies: int = 0


def evaluate_templated(
    data: Templated, threshold: float, rule: Rule
) -> tuple[Result, dict[str, FamilyResult]]:
    """Each family's bulletins one after another into a fresh index (a merge is a false
    positive), then every wire copy against all bulletins (found: its original). Each near twin
    is checked against its family too, counted per family only: they are stricter than life
    (every other fact equal), a measure of how far the rule goes, not part of the set."""
    result = Result()
    families = {family: FamilyResult() for family in data.families}
    indexes: dict[str, tuple[NearDuplicateIndex, dict[str, Facts | None]]] = {}
    everything = NearDuplicateIndex(threshold)
    all_facts: dict[str, Facts | None] = {}
    for family, bulletins in data.families.items():
        index = NearDuplicateIndex(threshold)
        facts_of: dict[str, Facts | None] = {}
        indexes[family] = index, facts_of
        for n, bulletin in enumerate(bulletins):
            sig = signature(bulletin.title, bulletin.text)
            result.negatives += 1
            if decide(index, f"{family}-{n:02d}", sig, facts_of, rule) is not None:
                families[family].merged += 1
                result.fp += 1
                result.false[family] += 1
            everything.add(f"{family}-{n:02d}", sig)
            all_facts[f"{family}-{n:02d}"] = sig.facts
    for n, (family, _kind, twin) in enumerate(data.twins):  # counted apart from `result`
        families[family].twins += 1
        index, facts_of = indexes[family]
        sig = signature(twin.title, twin.text)
        if decide(index, f"twin-{n}", sig, facts_of, rule, keep=False) is not None:
            families[family].twins_merged += 1
    for n, (family, kind, key, copy) in enumerate(data.copies):
        result.positives += 1
        families[family].copies += 1
        sig = signature(copy.title, copy.text)
        found = decide(everything, f"copy-{n}", sig, all_facts, rule, keep=False)
        if found == key:
            result.tp += 1
            families[family].copies_found += 1
        else:
            result.missed[kind] += 1
            if found is not None:
                result.fp += 1
                result.false[f"{kind} (wrong original)"] += 1
    return result, families


def report_facts(data: Labelled, templated: Templated) -> None:
    """The decision with facts, on both sets, for each rule of `RULES`, and per family."""
    sigs = {id(d): signature(d.title, d.text) for d in all_docs(data)}
    copies = Counter(kind for _f, kind, _key, _copy in templated.copies)
    twins = Counter(kind for _f, kind, _twin in templated.twins)
    print(
        f"\ntemplated bulletins: {len(templated.families)} families of {PER_FAMILY}; "
        f"{len(templated.copies)} wire copies {dict(copies)}; "
        f"{len(templated.twins)} near twins {dict(twins)}"
    )
    print(f"decision with facts at threshold {DEFAULT_THRESHOLD} (precision/recall):")
    print("  numbers/names   existing set    templated set   bulletins merged  twins merged")
    for rule in RULES:
        existing = evaluate_with_facts(data, sigs, DEFAULT_THRESHOLD, rule)
        bulletins, families = evaluate_templated(templated, DEFAULT_THRESHOLD, rule)
        label = "words only" if rule is None else f"{rule[0]:.1f} / {rule[1]:.1f}"
        print(
            f"  {label:<14}  {existing.precision:.4f}/{existing.recall:.4f}  "
            f"{bulletins.precision:.4f}/{bulletins.recall:.4f}  "
            f"{sum(f.merged for f in families.values()):>8}/{len(templated.families) * PER_FAMILY}"
            f"  {sum(f.twins_merged for f in families.values()):>8}/{len(templated.twins)}"
            + ("  (chosen)" if rule == CHOSEN else "")
        )
    existing = evaluate_with_facts(data, sigs, DEFAULT_THRESHOLD, CHOSEN)
    bulletins, families = evaluate_templated(templated, DEFAULT_THRESHOLD, CHOSEN)
    _, words_only = evaluate_templated(templated, DEFAULT_THRESHOLD, None)
    print(f"\nat numbers {MIN_SHARED_NUMBERS} / names {MIN_SHARED_NAMES}:")
    for name, r in (("existing set", existing), ("templated set", bulletins)):
        print(
            f"  {name}: precision {r.precision:.4f}  recall {r.recall:.4f}  (tp {r.tp}, "
            f"fp {r.fp}, positives {r.positives}, negatives {r.negatives})"
        )
        print(f"    missed by kind: {dict(r.missed)}; false by kind: {dict(r.false)}")
    print("  family            merged: words only  with facts  twins merged  copies found")
    for family, f in families.items():
        print(
            f"  {family:<17} {words_only[family].merged:>12}/{PER_FAMILY:<6}"
            f"{f.merged:>5}/{PER_FAMILY:<6}{f.twins_merged:>7}/{f.twins:<6}"
            f"{f.copies_found:>7}/{f.copies}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-signatures", type=int, default=100_000)
    parser.add_argument("--lookup-signatures", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DATA, help="the ground-truth.json")
    args = parser.parse_args()
    started = time.perf_counter()
    truth = json.loads(args.data.read_text(encoding="utf-8"))
    bodies = [truth[key]["articleBody"] for key in sorted(truth)]
    data = build(bodies)
    kinds = Counter(kind for kind, _key, _doc in data.positives)
    negatives = Counter(kind for kind, _a, _b in data.negative_pairs)
    print(f"{len(bodies)} bodies; {len(data.positives)} positives {dict(kinds)}")
    print(f"negatives: {len(bodies)} originals against each other, {dict(negatives)}")
    print(
        f"num_perm={NUM_PERM}; chosen shingle size {SHINGLE_SIZE}, threshold {DEFAULT_THRESHOLD}\n"
    )

    docs = all_docs(data)
    results: dict[tuple[int, float], Result] = {}
    print("precision / recall    " + "".join(f"   t={t:<8}" for t in THRESHOLDS))
    for size in SHINGLE_SIZES:
        sigs = {id(d): signature(d.title, d.text, shingle_size=size) for d in docs}
        row = []
        for t in THRESHOLDS:
            results[size, t] = r = evaluate(data, sigs, t)
            row.append(f"{r.precision:.3f}/{r.recall:.3f}")
        print(f"shingle size {size}:      " + "  ".join(row))

    print("\ntrue Jaccard of shingle sets: hardest negative | 1st / 5th percentile of positives")
    by_size = {size: exact_jaccard(data, size) for size in SHINGLE_SIZES}
    for size, by_kind in by_size.items():
        pos = sorted(v for kind, vs in by_kind.items() if kind.startswith("+") for v in vs)
        neg = max(v for kind, vs in by_kind.items() if kind.startswith("-") for v in vs)
        print(
            f"  shingle size {size}: {neg:.3f}  |  {pos[len(pos) // 100]:.3f} / "
            f"{pos[len(pos) // 20]:.3f}"
        )

    chosen = results[SHINGLE_SIZE, DEFAULT_THRESHOLD]
    print(f"\nat shingle size {SHINGLE_SIZE}, threshold {DEFAULT_THRESHOLD}:")
    print(
        f"  precision {chosen.precision:.4f}  recall {chosen.recall:.4f}  "
        f"(tp {chosen.tp}, fp {chosen.fp}, positives {chosen.positives}, "
        f"negatives {chosen.negatives})"
    )
    print(f"  missed positives by kind: {dict(chosen.missed)}")
    print(f"  false positives by kind: {dict(chosen.false)}")
    print("  true Jaccard by kind: min / median / max")
    for kind, values in sorted(by_size[SHINGLE_SIZE].items()):
        v = sorted(values)
        print(f"    {kind:<22} {v[0]:.3f} / {v[len(v) // 2]:.3f} / {v[-1]:.3f}  (n={len(v)})")

    report_facts(data, build_templated())

    sig_rate, rate = throughput(data)
    print(
        f"\nthroughput: {sig_rate:,.0f} signatures/s; {rate:,.0f} articles/s "
        "(signature + find + add, one process)"
    )
    compare_lookups(data, args.lookup_signatures)
    compare_memory(args.memory_signatures)
    print(f"bench time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
