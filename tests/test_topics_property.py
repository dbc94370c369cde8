"""The compiled matcher agrees with a plain reference evaluator on random queries and texts.

The reference walks luqum's own tree and scans token lists term by term, with none of the
matcher's machinery (no automaton, no atoms, no triggers).
"""

# Typographic apostrophes, Greek and Cyrillic letters are what these tests are about.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import Stemmer
from hypothesis import event, given, settings
from hypothesis import strategies as st
from luqum import tree
from luqum.thread import parse

from crawler.topics import Document, Matcher, Topic
from crawler.topics.text import token_spans, tokenize

# Concepts: (query words, query prefixes, text forms). Each example draws a few concepts, so
# its queries and texts share words and matches (and near misses) are frequent.
CONCEPTS = [
    (["iran", "Irán"], ["ir"], ["Iran", "irán", "IRAN's", "Iran’s", "Iranian"]),
    (["tehran", "Téhéran"], ["teh"], ["Tehran", "Téhéran", "TEHERAN"]),
    (["drones", "drone"], ["dro"], ["drones", "Drone", "DRONES", "droned"]),
    (["Russia", "россия"], ["рос"], ["Russia", "Россия", "россии", "Iran-Russia"]),
    (["football"], ["foot"], ["football", "Football", "footballs"]),
    (["sanctions", "sanction"], ["sanc"], ["sanctions", "Sanctioned", "sanction"]),
    (["ελλαδα"], ["ελλ"], ["Ελλάδα", "ελλαδα", "ΕΛΛΆΔΑ"]),
    (["cafe", "shells"], ["caf"], ["café", "CAFE", "shells"]),
]
PUNCTUATION = [",", ".", " -", "—", "!", "\n", ";", "…"]
FIELDS = ["", "", "", "title:", "text:"]

_stemmer = Stemmer.Stemmer("english")


def reference_tokens(text: str) -> list[str]:
    text = re.sub(r"(?<=\w)['’]s\b", "", text, flags=re.IGNORECASE)
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.findall(r"\w+", text.casefold())


class Reference:
    """Evaluates a luqum tree over token lists, the slow and obvious way."""

    def __init__(self, doc: Document, *, stem: bool, min_count: int) -> None:
        self.stem = stem
        self.min_count = min_count
        self.fields = {name: reference_tokens(getattr(doc, name)) for name in ("title", "text")}
        self.stemmed = {name: _stemmer.stemWords(tokens) for name, tokens in self.fields.items()}
        self.found: dict[str, int] = {}

    def holds(self, item: tree.Item, field: str | None = None, positive: bool = True) -> bool:
        if isinstance(item, tree.SearchField):
            return self.holds(item.expr, item.name, positive)
        if isinstance(item, tree.BaseGroup | tree.Plus):
            return self.holds(item.children[0], field, positive)
        if isinstance(item, tree.Not | tree.Prohibit):
            return not self.holds(item.a, field, not positive)
        if isinstance(item, tree.OrOperation):
            results = [self.holds(child, field, positive) for child in item.children]
            return any(results)
        if isinstance(item, tree.AndOperation | tree.UnknownOperation):
            results = [self.holds(child, field, positive) for child in item.children]
            return all(results)
        count = self.count(item, field)
        label = str(item) if field is None else f"{field}:{item}"
        if positive and count >= self.min_count:
            self.found.setdefault(label, count)
        return count >= self.min_count

    def count(self, item: tree.Item, field: str | None) -> int:
        names = [field] if field else ["title", "text"]
        slop = 0
        prefix = False
        if isinstance(item, tree.Proximity):
            slop, item = item.degree, item.term
        if isinstance(item, tree.Phrase):
            words = reference_tokens(item.value[1:-1])
        else:
            prefix = item.value.endswith("*")
            words = reference_tokens(item.value.rstrip("*"))
        stem = self.stem and not prefix
        if stem:
            words = _stemmer.stemWords(words)
        total = 0
        for name in names:
            tokens = (self.stemmed if stem else self.fields)[name]
            if slop and len(words) > 1:
                total += near(tokens, words, slop)
            else:
                total += sequence(tokens, words, prefix)
        return total


def sequence(tokens: list[str], words: list[str], prefix: bool) -> int:
    """Occurrences of `words` in a row (the last one as a prefix if `prefix`)."""
    n = len(words)
    found = 0
    for i in range(len(tokens) - n + 1):
        window = tokens[i : i + n]
        last_ok = window[-1].startswith(words[-1]) if prefix else window[-1] == words[-1]
        if window[:-1] == words[:-1] and last_ok:
            found += 1
    return found


def near(tokens: list[str], words: list[str], slop: int) -> int:
    """Start positions of windows of len(words) + slop tokens that hold all `words`."""
    needed = Counter(words)
    span = len(words) - 1 + slop
    found = 0
    for i, token in enumerate(tokens):
        if token in needed:
            window = Counter(tokens[i : i + span + 1])
            if all(window[word] >= count for word, count in needed.items()):
                found += 1
    return found


# Strategies draw placeholders ({w3}: the 3rd query word, {p1}: a prefix, {f2}: a text form)
# that are filled in from the example's concepts, so the strategies themselves stay fixed.
_slot = st.integers(0, 11)
_word = _slot.map(lambda i: f"{{w{i}}}")


def _terms() -> st.SearchStrategy[str]:
    prefix = _slot.map(lambda i: f"{{p{i}}}*")
    phrase = st.lists(_word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
    near_phrase = st.tuples(phrase, st.integers(0, 4)).map(lambda t: f"{t[0]}~{t[1]}")
    term = st.one_of(_word, _word, prefix, phrase, near_phrase, near_phrase)
    return st.tuples(st.sampled_from(FIELDS), term).map("".join)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    group = st.lists(children, min_size=2, max_size=3)
    return st.one_of(
        group.map(lambda cs: "(" + " AND ".join(cs) + ")"),
        group.map(lambda cs: "(" + " ".join(cs) + ")"),
        group.map(lambda cs: "(" + " OR ".join(cs) + ")"),
        st.tuples(children, children, st.sampled_from([" -", " AND NOT ", " NOT "])).map(
            lambda t: f"({t[0]}{t[2]}{t[1]})"
        ),
    )


QUERIES = st.recursive(_terms(), _extend, max_leaves=6)
TEXTS = st.lists(
    st.one_of(_slot.map(lambda i: f"{{f{i}}}"), st.sampled_from(PUNCTUATION)), max_size=25
).map(" ".join)
TOPICS = st.lists(st.tuples(QUERIES, st.booleans(), st.integers(1, 2)), min_size=1, max_size=4)
_PLACEHOLDER = re.compile(r"\{([wpf])(\d+)\}")


def fill(template: str, concepts: list[tuple[list[str], list[str], list[str]]]) -> str:
    """Replace the placeholders of `template` with words of `concepts`."""
    pools = {
        "w": [word for concept in concepts for word in concept[0]],
        "p": [prefix for concept in concepts for prefix in concept[1]],
        "f": [form for concept in concepts for form in concept[2]],
    }
    return _PLACEHOLDER.sub(lambda m: pools[m[1]][int(m[2]) % len(pools[m[1]])], template)


@settings(max_examples=300, deadline=None)
@given(
    concepts=st.lists(st.sampled_from(CONCEPTS), min_size=2, max_size=4),
    templates=TOPICS,
    title=TEXTS,
    text=TEXTS,
)
def test_matcher_agrees_with_reference(
    concepts: list[tuple[list[str], list[str], list[str]]],
    templates: list[tuple[str, bool, int]],
    title: str,
    text: str,
) -> None:
    topics = [(fill(query, concepts), stem, n) for query, stem, n in templates]
    doc = Document(title=fill(title, concepts), text=fill(text, concepts), lang="en")
    matcher = Matcher(
        Topic(f"t{i}", query, stem=stem, min_count=n) for i, (query, stem, n) in enumerate(topics)
    )
    found = {match.name: match.terms for match in matcher.match(doc)}
    for i, (query, stem, min_count) in enumerate(topics):
        reference = Reference(doc, stem=stem, min_count=min_count)
        expected = reference.holds(parse(query))
        event(f"matched={expected}")
        assert (f"t{i}" in found) is expected, query
        if expected:
            assert found[f"t{i}"] == reference.found, query
        assert matcher.explain(f"t{i}", doc).matched is expected


TRICKY = "aZé e\u0301ß ﬁ½™…’'-. İΣς伊朗总统이란의РЖ\u00ad\u200bx1_\n"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=TRICKY, max_size=40))
def test_every_token_is_found_back_in_the_text(text: str) -> None:
    tokens = tokenize(text)
    spans = token_spans(text)
    assert len(spans) == len(tokens)
    for (start, end), token in zip(spans, tokens, strict=True):
        assert 0 <= start < end <= len(text)
        assert token in tokenize(text[start:end]), (text, start, end, token)
    assert [start for start, _ in spans] == sorted(start for start, _ in spans)
