# ruff: noqa: RUF001  (text in other scripts is what these tests are about)
"""Content hashes that must never change, the facts of a body and when two bodies' facts agree."""

from __future__ import annotations

import pytest

from crawler.fingerprint import Facts, agreement, content_hash, facts, normalize_text
from crawler.neardup import NearDuplicateIndex, Signature, signature

# SHA-256 hashes stored with items and fingerprints since the first release: pinned, because a
# change would make every stored body look new.
KNOWN_HASHES = {
    "Cargo ships crossed the Caspian.\n\nOfficials said — “nothing unusual”.": (
        "9cbf0d8c0f00b0b2334bcf0385a2dd3e9e686c2bc7999de8158e10506ac21d1a"
    ),
    "Café Zürich, 18,412 Punkte; STRASSE": (
        "5f6010564947fee4fc57f0d257c9faa06fb58cbc05c340eac56a22ee5f4e4219"
    ),
    "北京时间2026年3月4日，东京股市收于38,512点。": (
        "c2640c7af662fb2ddefa0e9b1f7e8318615e66d85a5429ac3789334e8c228980"
    ),
    "": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}


@pytest.mark.parametrize(("text", "expected"), KNOWN_HASHES.items())
def test_content_hashes_stay_what_was_stored(text: str, expected: str) -> None:
    assert content_hash(text) == expected


def test_the_dedup_module_hashes_the_same() -> None:
    from crawler import dedup

    assert dedup.content_hash is content_hash
    assert dedup.normalize_text is normalize_text


QUAKE = (
    "A magnitude 4.6 earthquake struck 12 kilometres south-west of Hilo, Hawaii at 14:32 local "
    "time on Tuesday, the US Geological Survey said. The quake was 10 km deep."
)


def test_numbers_and_names_of_a_bulletin() -> None:
    found = facts(QUAKE)
    assert found.numbers == ("4.6", "12", "14:32", "10")
    assert found.names == ("hilo", "hawaii", "tuesday", "us", "geological", "survey")


def test_scores_dates_and_percentages_are_one_fact_each() -> None:
    found = facts("Arsenal beat Chelsea 3-1 on 2026-03-04; the FTSE rose 0.8% to 8,412.5 points.")
    assert found.numbers == ("3-1", "2026-03-04", "0.8%", "8,412.5")
    assert "arsenal" not in found.names  # first word of a sentence: not taken for a name
    assert found.names == ("chelsea", "ftse")


def test_digits_of_any_script_read_as_ascii() -> None:
    assert facts("زلزال بقوة ٤٫٦ درجات").numbers == ("4.6",)
    assert facts("भूकंप की तीव्रता ४.६ थी").numbers == ("4.6",)
    assert facts("震级为４.６级").numbers == ("4.6",)


def test_scripts_without_case_carry_numbers_only() -> None:
    found = facts("北京时间2026年3月4日，东京股市日经指数收于38,512点。")
    assert found == Facts(numbers=("2026", "3", "4", "38,512"), names=())


def test_a_trimmed_copy_or_a_credit_line_agrees() -> None:
    full = facts(QUAKE + " No tsunami warning was issued by the Pacific Tsunami Warning Center.")
    assert agreement(facts(QUAKE), full).agree
    credited = facts(QUAKE + "\nReporting by Maren Holt in Honolulu; Editing by Kwame Osei")
    assert agreement(credited, facts(QUAKE)).agree


def test_another_quake_of_the_same_template_does_not_agree() -> None:
    other = (
        QUAKE.replace("4.6", "5.1")
        .replace("12 kilometres", "31 kilometres")
        .replace("Hilo", "Naalehu")
        .replace("14:32", "03:05")
        .replace("Tuesday", "Friday")
    )
    verdict = agreement(facts(QUAKE), facts(other))
    assert not verdict.agree
    assert verdict.shared.names == ("hawaii", "us", "geological", "survey")
    assert set(verdict.missing.numbers) == {"4.6", "12", "14:32"}


def test_a_body_without_facts_agrees_with_any() -> None:
    assert agreement(Facts(), facts(QUAKE)).agree


def test_signatures_keep_their_facts_and_old_ones_stay_readable() -> None:
    sig = signature("Quake", QUAKE * 3)
    again = Signature.from_bytes(sig.to_bytes())
    assert again == sig and again.facts == facts(QUAKE * 3)
    old = Signature.from_bytes(b"\x01" + sig.hashvalues)  # as stored before facts were kept
    assert old.facts is None and old.hashvalues == sig.hashvalues
    short = signature("Quake", "M 4.6 near Hilo")
    assert Signature.from_bytes(short.to_bytes()) == short
    assert Signature.from_bytes(b"\x02" + short.exact_key).facts is None


def test_find_or_add_takes_the_best_candidate_that_is_accepted() -> None:
    index = NearDuplicateIndex()
    more = " Residents said the shaking lasted several seconds and rattled windows downtown."
    body = QUAKE + more * 2 + " Officials reported no damage to roads or buildings nearby."
    assert index.find_or_add("first", signature("t", body)) is None
    trimmed = signature("t", QUAKE + more)
    assert index.find_or_add("trimmed", trimmed, accept=lambda k, s: False) is None
    refused: list[tuple[str, float]] = []

    def accept(key: str, similarity: float) -> bool:
        refused.append((key, similarity))
        return key == "trimmed"

    match = index.find_or_add("third", signature("t", body), accept=accept)
    assert match is not None and match.key == "trimmed"
    assert refused[0][0] == "first" and refused[0][1] == 1.0  # best first
    assert 0.5 <= match.similarity < 1.0
    assert "third" not in index
    assert index.find_or_add("fourth", signature("t", body), accept=lambda k, s: False) is None
    assert "fourth" in index
