"""Atoms and channels: the terms of all topics, compiled into Aho-Corasick automata.

An *atom* is one term of a query with everything that decides whether it holds (fields,
tokens, wildcard, proximity, stemming, ``min_count``). Equal atoms of different topics are
shared, so each is counted once per article.

A *channel* is one automaton over one form of the tokens: the plain folded tokens, or their
Snowball stems in one language. Each field of an article is joined into one string
(``" tok tok tok "``) and scanned once per channel: a key ``" iran "`` matches a whole token,
``" sanction"`` the start of one, ``" iran drones "`` a phrase.

Channels hold plain tuples of plain values: the garbage collector stops tracking those, so a
large matcher does not slow every collection down.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import ahocorasick

from crawler.topics.stemming import stem_tokens


class Atom(NamedTuple):
    """One term, ready to count: see :class:`crawler.topics.query.Term` for the fields."""

    fields: tuple[str, ...]
    tokens: tuple[str, ...]
    prefix: bool
    slop: int | None
    stemmed: bool
    min_count: int


class AtomFacts(NamedTuple):
    """What a scan needs about each atom id; a language filter has no fields and count 0."""

    fields: tuple[tuple[str, ...], ...]
    stemmed: tuple[bool, ...]
    min_counts: tuple[int, ...]

    @classmethod
    def of(cls, atoms: dict[int, Atom], size: int) -> AtomFacts:
        """Facts for ids 0..size-1; ids missing from `atoms` are language filters."""
        known = [atoms.get(atom_id) for atom_id in range(size)]
        return cls(
            fields=tuple(atom.fields if atom else () for atom in known),
            stemmed=tuple(atom.stemmed if atom else False for atom in known),
            min_counts=tuple(atom.min_count if atom else 0 for atom in known),
        )


class Channel(NamedTuple):
    """One automaton over one token form, and how each key found counts towards atoms.

    `sequences[field][key]` lists the atoms that are that key alone in that field; `nears[key]` the
    proximity atoms to look at when that key is found. `sequence_plans` give each one-key atom
    (a word, a phrase, a wildcard) as (key, length in tokens); `near_plans` each proximity atom
    as (((key, times needed), ...), span), and `near_keys` its keys. `fields` are the document
    fields worth scanning.
    """

    automaton: ahocorasick.Automaton | None
    key_lengths: tuple[int, ...]
    sequences: dict[str, tuple[tuple[int, ...], ...]]
    nears: tuple[tuple[int, ...], ...]
    sequence_plans: dict[int, tuple[int, int]]
    near_plans: dict[int, tuple[tuple[tuple[int, int], ...], int]]
    near_keys: dict[int, frozenset[int]]
    fields: tuple[str, ...]


def build_channel(atoms: dict[int, Atom], lang: str | None) -> Channel:
    """Compile `atoms` into one channel; `lang` stems the tokens, None keeps them."""
    keys: dict[str, int] = {}
    sequence_plans: dict[int, tuple[int, int]] = {}
    near_plans: dict[int, tuple[tuple[tuple[int, int], ...], int]] = {}
    for atom_id, atom in atoms.items():
        tokens = stem_tokens(list(atom.tokens), lang) if lang else list(atom.tokens)
        if atom.slop is None:
            text = " " + " ".join(tokens) + ("" if atom.prefix else " ")
            sequence_plans[atom_id] = (keys.setdefault(text, len(keys)), len(tokens))
        else:
            times = Counter(keys.setdefault(f" {token} ", len(keys)) for token in tokens)
            near_plans[atom_id] = (tuple(times.items()), len(tokens) - 1 + atom.slop)
    texts = list(keys)  # in id order
    fields = sorted({name for atom in atoms.values() for name in atom.fields})
    sequences: dict[str, list[list[int]]] = {name: [[] for _ in texts] for name in fields}
    nears: list[list[int]] = [[] for _ in texts]
    for atom_id, (kid, _) in sequence_plans.items():
        for name in atoms[atom_id].fields:
            sequences[name][kid].append(atom_id)
    for atom_id, (needs, _) in near_plans.items():
        # a proximity atom needs all its keys: watching the longest one is enough
        longest = max((kid for kid, _ in needs), key=lambda kid: len(texts[kid]))
        nears[longest].append(atom_id)
    automaton = None
    if keys:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for text, kid in keys.items():
            automaton.add_word(text, kid)
        automaton.make_automaton()
    return Channel(
        automaton=automaton,
        key_lengths=tuple(len(text) for text in texts),
        sequences={name: tuple(map(tuple, lists)) for name, lists in sequences.items()},
        nears=tuple(map(tuple, nears)),
        sequence_plans=sequence_plans,
        near_plans=near_plans,
        near_keys={atom: frozenset(kid for kid, _ in plan[0]) for atom, plan in near_plans.items()},
        fields=tuple(fields),
    )
