"""Topics compiled for matching: boolean programs over atoms, and the triggers that pick them.

Each topic becomes a :class:`TopicPlan`: a *program* (the query as nested tuples over atom ids,
tested against the set of atoms that hold in an article) and a *trigger*: its two
rarest-looking *requirements* (sets of atoms, one of which must hold for the topic to match,
such as the words of an AND operand). Only topics whose trigger holds have their program run.

Plans are tuples of plain values, so thousands of them cost the garbage collector nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from crawler.topics.channel import Atom
from crawler.topics.query import And, Lang, Node, Not, Or, Query, Term

AtomIds = tuple[int, ...]


# A boolean node as a plain tuple: (is_and, direct, excluded, nested, nested_excluded).
# AND: every atom of `direct` and every `nested` program holds, no atom of `excluded` and no
# `nested_excluded` program does. OR: some atom of `direct` or some `nested` program holds.
Program = tuple[bool, AtomIds, AtomIds, tuple["Program", ...], tuple["Program", ...]]


def holds(program: Program, held: set[int]) -> bool:
    """Whether `program` is true when exactly the atoms in `held` hold."""
    is_and, direct, excluded, nested, nested_excluded = program
    if is_and:
        return (
            held.issuperset(direct)
            and held.isdisjoint(excluded)
            and all(holds(inner, held) for inner in nested)
            and not any(holds(inner, held) for inner in nested_excluded)
        )
    return not held.isdisjoint(direct) or any(holds(inner, held) for inner in nested)


class TopicPlan(NamedTuple):
    """One topic, compiled. `positive` lists the (label, atom) of the terms to report."""

    name: str
    query: str
    stem: bool
    min_count: int
    program: Program
    trigger: tuple[AtomIds, ...]  # up to two requirements; empty: always run the program
    positive: tuple[tuple[str, int], ...]


class AtomTable:
    """Interns atoms and language filters across topics, giving each a small integer id.

    Atoms are kept as plain tuples; :meth:`atoms` gives them back as :class:`Atom`.
    """

    def __init__(self) -> None:
        self._atoms: dict[tuple[object, ...], int] = {}
        self.langs: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._atoms) + len(self.langs)

    def add_term(self, term: Term, *, stem: bool, min_count: int) -> int:
        stemmed = stem and not term.prefix
        atom = (term.fields, term.tokens, term.prefix, term.slop, stemmed, min_count)
        return self._atoms.setdefault(atom, len(self))

    def add_lang(self, code: str) -> int:
        return self.langs.setdefault(code, len(self))

    def atoms(self) -> dict[int, Atom]:
        """Every atom by id (language filters excluded)."""
        return {atom_id: Atom._make(atom) for atom, atom_id in self._atoms.items()}


def plan_topic(
    name: str, query: Query, table: AtomTable, *, stem: bool, min_count: int
) -> tuple[TopicPlan, dict[Term | Lang, int]]:
    """Compile one topic; also return the atom of every term and language node."""
    atom_of: dict[Term | Lang, int] = {}
    positive: dict[str, int] = {}

    def intern(node: Node, negated: bool) -> None:
        if isinstance(node, Term):
            atom_of[node] = table.add_term(node, stem=stem, min_count=min_count)
            if not negated:
                positive.setdefault(node.label, atom_of[node])
        elif isinstance(node, Lang):
            atom_of[node] = table.add_lang(node.code)
        elif isinstance(node, Not):
            intern(node.child, not negated)
        else:
            for child in node.children:
                intern(child, negated)

    intern(query.root, False)
    weights = {atom_of[node]: _rarity(node) for node in atom_of if isinstance(node, Term)}
    trigger = tuple(_requirements(query.root, atom_of, weights)[:2])
    plan = TopicPlan(
        name=name,
        query=query.text,
        stem=stem,
        min_count=min_count,
        program=_program(query.root, atom_of),
        trigger=trigger,
        positive=tuple(positive.items()),
    )
    return plan, atom_of


def _program(node: Node, atom_of: dict[Term | Lang, int]) -> Program:
    if isinstance(node, Term | Lang):
        return (True, (atom_of[node],), (), (), ())
    if isinstance(node, Not):  # only at the top of a checked query's AND operands
        return (True, (), (), (), (_program(node.child, atom_of),))
    leaves = tuple(atom_of[c] for c in node.children if isinstance(c, Term | Lang))
    inner = [c for c in node.children if not isinstance(c, Term | Lang | Not)]
    nested = tuple(_program(child, atom_of) for child in inner)
    if isinstance(node, Or):
        return (False, leaves, (), nested, ())
    negated = [c.child for c in node.children if isinstance(c, Not)]
    excluded = tuple(atom_of[c] for c in negated if isinstance(c, Term | Lang))
    nested_excluded = tuple(
        _program(child, atom_of) for child in negated if not isinstance(child, Term | Lang)
    )
    return (True, leaves, excluded, nested, nested_excluded)


def _rarity(term: Term) -> float:
    """How often a term is guessed to occur: longer keys are rarer, wildcards commoner."""
    length = sum(map(len, term.tokens)) + len(term.tokens) - 1
    return 0.6**length * (8 if term.prefix else 1)


def _requirements(
    node: Node, atom_of: dict[Term | Lang, int], weights: dict[int, float]
) -> list[AtomIds]:
    """Sets of atoms such that `node` can only hold if each set has an atom that holds."""
    if isinstance(node, Term):
        return [(atom_of[node],)]
    if isinstance(node, Lang | Not):
        return []
    options = [_requirements(child, atom_of, weights) for child in node.children]
    if isinstance(node, And):
        return sorted(
            (need for option in options for need in option),
            key=lambda need: sum(weights[atom] for atom in need),
        )
    if not all(options):
        return []
    return [tuple(sorted({atom for option in options for atom in option[0]}))]


class Triggers:
    """Which topics are worth evaluating, given the atoms that hold in an article.

    A topic is a candidate when both its requirements (or its only one) have an atom that
    holds. Topics without requirements (only a language filter) are always candidates.
    """

    def __init__(self, plans: Iterable[TopicPlan]) -> None:
        first: dict[int, list[int]] = {}
        second: dict[int, list[int]] = {}
        always: list[int] = []
        for index, plan in enumerate(plans):
            if not plan.trigger:
                always.append(index)
                continue
            for atom in plan.trigger[0]:
                first.setdefault(atom, []).append(index)
            for atom in plan.trigger[-1]:
                second.setdefault(atom, []).append(index)
        self.first = {atom: tuple(topics) for atom, topics in first.items()}
        self.second = {atom: tuple(topics) for atom, topics in second.items()}
        self.always = tuple(always)
        self._first_atoms = frozenset(self.first)
        self._second_atoms = frozenset(self.second)

    def candidates(self, held: set[int]) -> set[int]:
        """Indices of the topics whose triggers hold, in no particular order."""
        first = set().union(*map(self.first.__getitem__, held & self._first_atoms))
        second = map(self.second.__getitem__, held & self._second_atoms)
        first.intersection_update(set().union(*second))
        first.update(self.always)
        return first
