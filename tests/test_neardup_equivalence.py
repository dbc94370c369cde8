"""The compact near-duplicate index gives the same answers as the datasketch index it replaced.

`support.lshref.ReferenceIndex` is the old index (datasketch's MinHashLSH). Both see the same
operations: bodies added through `find_or_add`, copies and other bodies looked up, keys
removed (expiry) and looked up again; the compact index keeps its signatures in a real state
database and is also reloaded from it. Every answer (key and similarity) must be equal.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from crawler.neardup import NUM_PERM, Match, NearDuplicateIndex, Signature, signature
from crawler.state import State

from support.lshref import ReferenceIndex

TESTS = Path(__file__).parent
BENCHMARK_BODIES = [
    TESTS / "data" / "extraction-benchmark" / "ground-truth.json",  # 8 bodies of the set
    TESTS.parents[1] / "shared" / "data" / "article-extraction-benchmark" / "ground-truth.json",
]
WORDS = [f"w{n}" for n in range(400)]  # a small vocabulary, so unrelated bodies share shingles


def benchmark_bodies() -> list[str]:
    bodies: dict[str, str] = {}
    for path in BENCHMARK_BODIES:
        if path.exists():
            truth = json.loads(path.read_text(encoding="utf-8"))
            bodies.update({key: truth[key]["articleBody"] for key in sorted(truth)})
    return list(bodies.values())


def edits(text: str, other: str, rng: random.Random) -> list[str]:
    """Copies of `text` from near-identical to barely related, around every threshold."""
    words = text.split()
    paragraphs = [p for p in text.split("\n") if p.strip()]
    out = [
        f"By Maren Holt, Northwire\n{text}",
        f"{text}\nReporting by Kwame Osei; Editing by Ines Valcourt",
        " ".join(words[: int(len(words) * 0.75)]),
        " ".join(words[: int(len(words) * 0.5)]),
        " ".join(words[: len(words) // 3]),
        "\n".join(paragraphs[1:]) or text,
        f"{text}\n{other}",
        f"{' '.join(words[: len(words) // 2])} {' '.join(other.split()[: len(words) // 2])}",
    ]
    for share in (0.05, 0.15, 0.3):
        changed = list(words)
        for i in rng.sample(range(len(changed)), int(len(changed) * share)):
            changed[i] = rng.choice(WORDS)
        out.append(" ".join(changed))
    return out


def random_bodies(rng: random.Random, count: int) -> list[str]:
    """Bodies of random words, some short (exact signatures), some copies of short ones."""
    bodies = [" ".join(rng.choices(WORDS, k=rng.randrange(40, 200))) for _ in range(count)]
    short = [" ".join(rng.choices(WORDS, k=rng.randrange(3, 29))) for _ in range(count // 10)]
    return bodies + short + short[: len(short) // 2]


def same_answers(old: ReferenceIndex, new: NearDuplicateIndex, queries: list[Signature]) -> None:
    for n, query in enumerate(queries):
        expected, got = old.find(query), new.find(query)
        assert got == expected, f"query {n}: {got} != {expected}"


def run_both(bodies: list[str], threshold: float, tmp_path: Path) -> int:
    """The same operations on both indexes; returns how many lookups found a duplicate."""
    rng = random.Random(17)
    sigs = [signature(f"title {n}", body) for n, body in enumerate(bodies)]
    copies = [
        signature("another title", copy)
        for n, body in enumerate(bodies)
        for copy in edits(body, bodies[(n + 1) % len(bodies)], rng)
    ]
    old = ReferenceIndex(threshold)
    with State(tmp_path / f"state-{threshold}.db") as state:
        new = NearDuplicateIndex.load(state, threshold)
        for n, sig in enumerate(sigs):  # the decision, as the pipeline takes it
            assert new.find_or_add(f"k{n:04d}", sig) == old.find_or_add(f"k{n:04d}", sig)
        assert len(new) == len(old)
        same_answers(old, new, sigs + copies)

        def refuse_odd(key: str, similarity: float) -> bool:
            return int(key[1:]) % 2 == 0

        for n, copy in enumerate(copies[: len(copies) // 2]):
            key = f"c{n:05d}"
            assert new.find_or_add(key, copy, refuse_odd) == old.find_or_add(key, copy, refuse_odd)
        gone = rng.sample(sorted(f"k{n:04d}" for n in range(len(sigs))), len(sigs) // 3)
        for key in gone:
            new.remove(key)
            old.remove(key)
            assert key not in new
        assert len(new) == len(old)
        same_answers(old, new, sigs + copies)
        reloaded = NearDuplicateIndex.load(state, threshold)
        assert len(reloaded) == len(old)
        same_answers(old, reloaded, sigs + copies)
    return sum(old.find(query) is not None for query in sigs + copies)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.8])
def test_same_answers_on_the_benchmark_bodies(threshold: float, tmp_path: Path) -> None:
    bodies = benchmark_bodies()
    assert len(bodies) >= 8
    found = run_both(bodies, threshold, tmp_path)
    assert found > len(bodies)  # copies were found, not only the bodies themselves


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.8])
def test_same_answers_on_random_bodies(threshold: float, tmp_path: Path) -> None:
    bodies = random_bodies(random.Random(threshold), 150)
    found = run_both(bodies, threshold, tmp_path)
    assert found > len(bodies)


def test_same_answers_through_merges_and_compaction(tmp_path: Path) -> None:
    """Enough signatures that recent entries are merged into the arrays several times, and
    enough removals that the slots are compacted; queries differ from a stored signature in a
    varying number of values, on both sides of the threshold."""
    rng = np.random.default_rng(5)
    values = rng.integers(0, 2**32, size=(12_000, NUM_PERM), dtype=np.uint32)
    sigs = [Signature(hashvalues=v.tobytes()) for v in values]

    def near(n: int) -> Signature:
        copy = values[n].copy()
        changed = rng.choice(NUM_PERM, size=int(rng.integers(0, 100)), replace=False)
        copy[changed] = rng.integers(0, 2**32, size=len(changed), dtype=np.uint32)
        return Signature(hashvalues=copy.tobytes())

    old = ReferenceIndex()
    with State(tmp_path / "state.db") as state:
        new = NearDuplicateIndex.load(state)
        with state.transaction():  # one commit, not one per signature
            for n, sig in enumerate(sigs):
                new.add(f"k{n:05d}", sig)
                old.add(f"k{n:05d}", sig)
        queries = [near(int(n)) for n in rng.choice(len(sigs), size=400)]
        same_answers(old, new, queries)
        with state.transaction():
            for n in range(0, 11_000):
                new.remove(f"k{n:05d}")
                old.remove(f"k{n:05d}")
        assert len(new) == len(old) == 1_000
        same_answers(old, new, queries + [near(int(n)) for n in range(11_000, 11_400)])
        for n in range(0, 500):  # removed keys come back with other signatures
            new.add(f"k{n:05d}", sigs[-1 - n])
            old.add(f"k{n:05d}", sigs[-1 - n])
        same_answers(old, new, [near(len(sigs) - 1 - n) for n in range(500)])
        assert NearDuplicateIndex.load(state).find(sigs[-1]) == Match("k00000", 1.0)


def _random_sigs(count: int, seed: int) -> list[Signature]:
    values = np.random.default_rng(seed).integers(0, 2**32, size=(count, NUM_PERM), dtype=np.uint32)
    return [Signature(hashvalues=v.tobytes()) for v in values]


def _near(sig: Signature, changed: int) -> Signature:
    values = sig.values().copy()
    values[:changed] ^= np.uint32(0xFFFF)
    return Signature(hashvalues=values.tobytes())


def test_a_reload_sees_what_changed_since_the_snapshot(tmp_path: Path) -> None:
    sigs = _random_sigs(400, seed=1)
    old = ReferenceIndex()
    with State(tmp_path / "state.db") as state:
        new = NearDuplicateIndex.load(state)
        for n, sig in enumerate(sigs[:300]):
            new.add(f"k{n:03d}", sig)
            old.add(f"k{n:03d}", sig)
        new.save()
        for n, sig in enumerate(sigs[300:], start=300):  # after the snapshot
            new.add(f"k{n:03d}", sig)
            old.add(f"k{n:03d}", sig)
        for n in [*range(0, 40), *range(350, 370)]:  # before and after it
            new.remove(f"k{n:03d}")
            old.remove(f"k{n:03d}")
        for n in range(0, 5):  # back, with another signature
            new.add(f"k{n:03d}", sigs[399 - n])
            old.add(f"k{n:03d}", sigs[399 - n])
        state.purge_signatures(0.0)  # nothing that old
    with State(tmp_path / "state.db") as state:
        reloaded = NearDuplicateIndex.load(state)
        assert len(reloaded) == len(old) == 345
        assert "k000" in reloaded and "k039" not in reloaded and "k360" not in reloaded
        same_answers(old, reloaded, [_near(s, c) for s in sigs for c in (0, 40, 70)])


def test_signatures_expired_in_the_database_are_gone_after_a_reload(tmp_path: Path) -> None:
    sigs = _random_sigs(50, seed=2)
    with State(tmp_path / "state.db") as state:
        new = NearDuplicateIndex.load(state)
        for n, sig in enumerate(sigs):
            state.add_signature(f"k{n:02d}", sig.to_bytes(), now=1000.0 + n, lookup=None)
        reloaded = NearDuplicateIndex.load(state)  # lookups computed for the rows without
        assert len(reloaded) == 50 and reloaded.find(sigs[7]) == Match("k07", 1.0)
        assert state.purge_signatures(1025.0) == [f"k{n:02d}" for n in range(25)]
        again = NearDuplicateIndex.load(state)
        assert len(again) == 25
        assert again.find(sigs[7]) is None and again.find(sigs[30]) == Match("k30", 1.0)
    assert len(new) == 0


def test_another_threshold_recomputes_the_lookups(tmp_path: Path) -> None:
    sigs = _random_sigs(200, seed=3)
    with State(tmp_path / "state.db") as state:
        index = NearDuplicateIndex.load(state, 0.5)
        for n, sig in enumerate(sigs):
            index.add(f"k{n:03d}", sig)
        old = ReferenceIndex(0.7)
        for n, sig in enumerate(sigs):
            old.add(f"k{n:03d}", sig)
        stricter = NearDuplicateIndex.load(state, 0.7)
        same_answers(old, stricter, [_near(s, c) for s in sigs for c in (10, 30, 50)])


def test_an_unreadable_signature_is_logged_and_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with State(tmp_path / "state.db") as state:
        state.add_signature("good", _random_sigs(1, seed=4)[0].to_bytes())
        state.add_signature("bad", b"\x09not a signature")
        index = NearDuplicateIndex.load(state)
        assert "good" in index and "bad" not in index
        assert "near-duplicate signature unreadable hash=bad" in caplog.text
        assert state.signatures_of(["good", "bad"]).keys() == {"good"}
