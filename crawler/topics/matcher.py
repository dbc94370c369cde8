"""The matcher: every topic compiled into one set of automata, applied to one article at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from crawler.errors import QueryError
from crawler.topics.channel import AtomFacts, Channel, build_channel
from crawler.topics.explain import Explanation, Reasons
from crawler.topics.models import Document, Snippet, Span, Topic, TopicMatch
from crawler.topics.plan import AtomTable, TopicPlan, Triggers, holds, plan_topic
from crawler.topics.query import Lang, Query, Term, parse_query
from crawler.topics.scan import Scan
from crawler.topics.snippet import cut_with_spans, densest, merge_spans
from crawler.topics.stemming import stem_language

SNIPPET_FIELDS = ("text", "title")


class Matcher:
    """All topics, compiled once. Immutable: build a new one when the settings change.

    The cost of :meth:`match` grows with the article, hardly with the number of topics: one
    automaton pass per field finds every term of every topic, and only topics whose rarest
    terms were found are evaluated.

    >>> matcher = Matcher([Topic("arms", "(iran OR tehran) AND drones -football")])
    >>> [m.name for m in matcher.match(Document(text="Tehran's drones were shown."))]
    ['arms']
    """

    def __init__(self, topics: Iterable[Topic]) -> None:
        self._table = AtomTable()
        plans: list[TopicPlan] = []
        self._index: dict[str, int] = {}
        for topic in topics:
            if topic.name in self._index:
                raise ValueError(f"topic {topic.name!r} is defined twice")
            try:
                query = parse_query(topic.query)
            except QueryError as exc:
                message = f"topic {topic.name!r}: {exc.message}"
                raise QueryError(exc.query, message, exc.position, exc.hint) from None
            plan, _ = plan_topic(
                topic.name, query, self._table, stem=topic.stem, min_count=topic.min_count
            )
            self._index[topic.name] = len(plans)
            plans.append(plan)
        self._plans = tuple(plans)
        atoms = self._table.atoms()
        self._facts = AtomFacts.of(atoms, len(self._table))
        self._plain = build_channel({i: a for i, a in atoms.items() if not a.stemmed}, None)
        self._has_stemmed = any(atom.stemmed for atom in atoms.values())
        self._stem_channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self._triggers = Triggers(self._plans)
        self._atom_maps: dict[str, tuple[Query, dict[Term | Lang, int]]] = {}  # for explain

    def __len__(self) -> int:
        return len(self._plans)

    def match(self, doc: Document) -> list[TopicMatch]:
        """The topics `doc` matches, in topic order."""
        scan = self._scan(doc)
        held = self._held(scan)
        plans = self._plans
        return [
            self._topic_match(plans[index], scan, held)
            for index in sorted(self._triggers.candidates(held))
            if holds(plans[index].program, held)
        ]

    def explain(self, topic_name: str, doc: Document) -> Explanation:
        """Whether topic `topic_name` matches `doc`, each term's count, and what failed.

        Raises KeyError for an unknown topic.
        """
        plan = self._plans[self._index[topic_name]]
        scan = self._scan(doc)
        return self._explain(plan, scan, self._held(scan))

    def explain_all(self, doc: Document, *, limit: int) -> tuple[list[Explanation], int]:
        """`explain` for the topics of `doc` that matter most, with one scan and no snippets
        (for the decision trail): every topic it matches, then up to `limit` that it misses,
        first those some of whose terms occur, then those none of whose terms occur (their
        failed clauses left empty: every term at 0 says it). In topic order; with how many
        topics were left out. The cost grows with the topics whose terms occur, not with all
        topics."""
        scan = self._scan(doc)
        held = self._held(scan)
        plans = self._plans
        chosen = [i for i in self._triggers.candidates(held) if holds(plans[i].program, held)]
        matched = set(chosen)
        untouched: list[int] = []
        misses = 0
        for index, plan in enumerate(plans):
            if misses >= limit:
                break
            if index in matched:
                continue
            _, atom_of = self._atoms_of(plan)
            if held.isdisjoint(atom_of.values()):
                untouched.append(index)  # cannot match: a query needs a positive clause
            else:
                misses += 1
                chosen.append(index)
        spare = untouched[: max(0, limit - misses)]
        explanations = {i: self._explain(self._plans[i], scan, held, snippet=False) for i in chosen}
        for index in spare:
            plan = self._plans[index]
            _, atom_of = self._atoms_of(plan)
            terms = {node.label: 0 for node in atom_of if isinstance(node, Term)}
            explanations[index] = Explanation(plan.name, plan.query, False, terms, "")
        left_out = len(self._plans) - len(explanations)
        return [explanations[i] for i in sorted(explanations)], left_out

    def _atoms_of(self, plan: TopicPlan) -> tuple[Query, dict[Term | Lang, int]]:
        """A topic's query tree and the atom of each of its terms, planned once."""
        known = self._atom_maps.get(plan.name)
        if known is None:
            query = parse_query(plan.query)
            with self._lock:  # the atoms exist already: planning again only looks them up
                _, atom_of = plan_topic(
                    plan.name, query, self._table, stem=plan.stem, min_count=plan.min_count
                )
            known = self._atom_maps[plan.name] = (query, atom_of)
        return known

    def _explain(
        self, plan: TopicPlan, scan: Scan, held: set[int], *, snippet: bool = True
    ) -> Explanation:
        doc = scan.doc
        query, atom_of = self._atoms_of(plan)
        matched = holds(plan.program, held)
        reasons = Reasons(atom_of, held, scan.counts, plan.min_count, doc.lang)
        terms = {
            node.label: scan.counts.get(atom, 0)
            for node, atom in atom_of.items()
            if isinstance(node, Term)
        }
        cut = self._snippet(plan, scan, held) if snippet else None
        return Explanation(
            topic=plan.name,
            query=plan.query,
            matched=matched,
            terms=terms,
            snippet=cut.text if cut else "",
            failed=() if matched else tuple(reasons.failed(query.root)),
            highlights=cut.highlights if cut else (),
        )

    def _scan(self, doc: Document) -> Scan:
        scan = Scan(doc, self._facts)
        scan.run(self._plain, None)
        if self._has_stemmed:
            lang = stem_language(doc.lang)
            scan.run(self._stem_channel(lang), lang)
        return scan

    def _held(self, scan: Scan) -> set[int]:
        held = scan.held()
        code = scan.doc.lang.strip().lower().replace("_", "-").split("-")[0]
        if code in self._table.langs:
            held.add(self._table.langs[code])
        return held

    def _stem_channel(self, lang: str) -> Channel:
        """The automaton of the stemmed atoms in `lang`, built on first use."""
        channel = self._stem_channels.get(lang)
        if channel is None:
            with self._lock:
                channel = self._stem_channels.get(lang)
                if channel is None:
                    atoms = self._table.atoms()
                    stemmed = {i: atom for i, atom in atoms.items() if atom.stemmed}
                    channel = build_channel(stemmed, lang)
                    self._stem_channels[lang] = channel
        return channel

    def _topic_match(self, plan: TopicPlan, scan: Scan, held: set[int]) -> TopicMatch:
        counts = scan.counts
        terms = {label: counts[atom] for label, atom in plan.positive if atom in held}
        snippet = self._snippet(plan, scan, held)
        atoms = _held_atoms(plan, held)
        spans = {name: tuple(_original_spans(atoms, scan, name)) for name in SNIPPET_FIELDS}
        return TopicMatch(
            plan.name,
            terms,
            snippet.text,
            spans={name: found for name, found in spans.items() if found},
            highlights=snippet.highlights,
        )

    def _snippet(self, plan: TopicPlan, scan: Scan, held: set[int]) -> Snippet:
        atoms = _held_atoms(plan, held)
        snippet = scan.snippets.get(atoms)
        if snippet is None:
            snippet = scan.snippets[atoms] = _make_snippet(atoms, scan)
        return snippet


def _held_atoms(plan: TopicPlan, held: set[int]) -> tuple[int, ...]:
    return tuple(atom for _, atom in plan.positive if atom in held)


def _original_spans(atoms: tuple[int, ...], scan: Scan, name: str) -> list[Span]:
    """Where the matched `atoms` are in field `name` as written, sorted, overlaps joined."""
    return merge_spans(
        [scan.original(name, hit) for atom in atoms for hit in scan.hit_spans(atom, name)]
    )


def _make_snippet(atoms: tuple[int, ...], scan: Scan) -> Snippet:
    doc = scan.doc
    for name in SNIPPET_FIELDS:
        hits = [span for atom in atoms for span in scan.hit_spans(atom, name)]
        if hits:
            text = getattr(doc, name)
            spans = _original_spans(atoms, scan, name)
            cut, highlights = cut_with_spans(text, scan.original(name, densest(hits)), spans)
            return Snippet(cut, tuple(highlights))
    return Snippet(cut_with_spans(doc.text or doc.title, (0, 0), [])[0], ())
