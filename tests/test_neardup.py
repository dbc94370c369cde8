"""Near-duplicate detection: syndicated copies and light edits are found, other stories are not."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from crawler.neardup import (
    DEFAULT_THRESHOLD,
    NUM_PERM,
    NearDuplicateIndex,
    Signature,
    lsh_params,
    signature,
)

STORY = [
    "The regional council of Vellmark voted on Tuesday to close the Aldersund ferry crossing "
    "for eleven weeks next spring while engineers replace both loading ramps, ending months of "
    "argument over how the repairs should be paid for.",
    "Commuters who use the crossing will be offered a shuttle bus over the Kessel bridge, a "
    "detour that the council's own transport office estimates will add about forty minutes to "
    "each journey at peak times.",
    "Councillor Edda Marquart, who chairs the infrastructure committee, said the ramps had been "
    "patched repeatedly since the storms of two winters ago and that inspectors had warned they "
    "could not be certified for another season.",
    "Shop owners on the island side of the crossing said the closure would cut them off from "
    "their customers during the busiest weeks of the year, and a petition asking for a "
    "temporary pontoon has gathered more than three thousand signatures.",
    "The council said it would publish the full timetable for the replacement buses in January "
    "and that freight lorries would be given priority loading slots at the mainland terminal "
    "once the new ramps are in service.",
]
BODY = "\n\n".join(STORY)

SAME_SUBJECT = "\n\n".join(
    [
        "Island traders in Aldersund say they fear for their livelihoods after the Vellmark "
        "regional council decided to shut the ferry crossing for repairs, a decision several of "
        "them learned about from a local radio bulletin rather than from the council itself.",
        "At a packed meeting in the village hall on Thursday evening, the owner of a bakery near "
        "the pier described the detour over the Kessel bridge as impossible for elderly "
        "residents who do not drive and cannot wait for infrequent buses in the cold.",
        "Organisers of the petition for a temporary pontoon said they would deliver it to "
        "Councillor Edda Marquart next week and ask for a public hearing on the cost of the "
        "alternatives before the ramp replacement contract is signed.",
    ]
)


def found(index: NearDuplicateIndex, query: Signature) -> str | None:
    """The key of the earlier near-duplicate `index` finds, or None."""
    match = index.find(query)
    return None if match is None else match.key


def sig(text: str, title: str = "Aldersund ferry to close for ramp repairs") -> Signature:
    return signature(title, text)


@pytest.fixture
def index() -> NearDuplicateIndex:
    index = NearDuplicateIndex()
    index.add("original", sig(BODY))
    return index


def test_same_body_in_other_wrappers_and_headline_is_found(index: NearDuplicateIndex) -> None:
    wrapped = (
        "By Tove Lindahl, Harbour Wire\n\n"
        + BODY
        + "\n\nShare this article\nRelated: Bridge tolls to rise in March"
    )
    assert found(index, sig(wrapped, title="Vellmark shuts island ferry for eleven weeks")) == (
        "original"
    )


def test_trimmed_last_paragraph_is_found(index: NearDuplicateIndex) -> None:
    assert found(index, sig("\n\n".join(STORY[:-1]))) == "original"


def test_added_reporting_line_is_found(index: NearDuplicateIndex) -> None:
    reported = BODY + "\n\nReporting by Jonas Prell in Vellmark; Editing by Ada Koivu"
    assert found(index, sig(reported)) == "original"


def test_correction_is_found(index: NearDuplicateIndex) -> None:
    corrected = BODY.replace("eleven weeks", "twelve weeks").replace("forty", "thirty")
    corrected += "\n\nCorrection: an earlier version of this story misstated the closure length."
    assert found(index, sig(corrected)) == "original"


def test_other_article_on_the_same_subject_is_not_found(index: NearDuplicateIndex) -> None:
    assert found(index, sig(SAME_SUBJECT)) is None


def test_short_bodies_are_compared_exactly() -> None:
    index = NearDuplicateIndex()
    brief = "Ferry crossing closed today because of high winds. Buses run every hour."
    short = signature("Ferry closed", brief)
    assert short.is_exact
    index.add("brief", short)
    assert found(index, signature("Ferry closed", brief)) == "brief"
    assert found(index, signature("Ferry closed", brief.replace("every hour", "twice"))) is None
    assert found(index, signature("Ferry closed", brief + " Check the website.")) is None


def test_round_trip_through_bytes_gives_the_same_answers(index: NearDuplicateIndex) -> None:
    queries = [sig(BODY), sig("\n\n".join(STORY[1:])), sig(SAME_SUBJECT), signature("a", "b c")]
    for query in queries:
        again = Signature.from_bytes(query.to_bytes())
        assert again == query
        assert found(index, again) == found(index, query)


def test_index_rebuilt_from_bytes_finds_the_same() -> None:
    rows = {
        "original": sig(BODY).to_bytes(),
        "other": sig(SAME_SUBJECT).to_bytes(),
        "brief": signature("Ferry closed", "High winds today.").to_bytes(),
    }
    rebuilt = NearDuplicateIndex()
    for key, blob in rows.items():
        rebuilt.add(key, Signature.from_bytes(blob))
    assert len(rebuilt) == 3
    assert found(rebuilt, sig("\n\n".join(STORY[:-1]))) == "original"
    assert found(rebuilt, sig(SAME_SUBJECT + "\n\nShare this article")) == "other"
    assert found(rebuilt, signature("Ferry closed", "High winds today.")) == "brief"


def test_remove_forgets_a_key(index: NearDuplicateIndex) -> None:
    index.add("brief", signature("Ferry closed", "High winds today."))
    assert len(index) == 2
    index.remove("original")
    index.remove("brief")
    index.remove("never-added")
    assert len(index) == 0
    assert found(index, sig(BODY)) is None
    assert found(index, signature("Ferry closed", "High winds today.")) is None


def test_the_closest_earlier_body_wins() -> None:
    index = NearDuplicateIndex()
    index.add("trimmed", sig("\n\n".join(STORY[:3])))
    index.add("full", sig(BODY))
    assert found(index, sig(BODY + "\n\nReporting by Jonas Prell")) == "full"


def test_adding_a_key_again_replaces_it(index: NearDuplicateIndex) -> None:
    index.add("original", sig(SAME_SUBJECT))
    assert len(index) == 1
    assert found(index, sig(BODY)) is None
    assert found(index, sig(SAME_SUBJECT)) == "original"


def test_bytes_are_compact_and_checked() -> None:
    bare = Signature(hashvalues=sig(BODY).hashvalues)
    assert len(bare.to_bytes()) == 1 + 4 * NUM_PERM
    assert len(Signature(exact_key=signature("a", "b").exact_key).to_bytes()) == 17
    with_facts = sig(BODY).to_bytes()
    assert len(with_facts) < 1 + 2 + 4 * NUM_PERM + 300  # the facts are a few words
    for bad in (b"", b"\x01", b"\x09abcd", b"\x01abc", b"\x03\x04\x00abcd{", b"\x04\xff\x00ab"):
        with pytest.raises(ValueError):
            Signature.from_bytes(bad)


def test_signature_of_another_length_is_refused(index: NearDuplicateIndex) -> None:
    with pytest.raises(ValueError):
        index.find(signature("t", BODY, num_perm=64))


def test_signature_is_the_same_in_a_worker_process() -> None:
    local = sig(BODY)
    assert pickle.loads(pickle.dumps(local)) == local
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        remote = pool.submit(signature, "Aldersund ferry to close for ramp repairs", BODY).result()
    assert remote == local


@pytest.mark.parametrize("threshold", [0.4, DEFAULT_THRESHOLD, 0.6, 0.7, 0.8, 0.9])
def test_lsh_bands_keep_candidates_near_the_threshold(threshold: float) -> None:
    params = lsh_params(threshold)
    assert params is not None
    bands, rows = params
    assert bands * rows <= NUM_PERM
    assert 1 - (1 - threshold**rows) ** bands >= 0.8
