"""Why a topic matched an article or not, for ``crawler topics test``."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.topics.query import And, Lang, Node, Not, Or, Term
from crawler.topics.snippet import mark


@dataclass(frozen=True, slots=True)
class Explanation:
    """The verdict of one topic on one document, with its reasons.

    `terms` lists every term the query looks for (excluded ones too) with the number of times
    it was found, 0 when absent. For a miss, `failed` names the clauses that did not hold, such
    as ``'NOT football: found 2'`` or ``'(russia OR moscow): none found'``.
    """

    topic: str
    query: str
    matched: bool
    terms: dict[str, int]
    snippet: str
    failed: tuple[str, ...] = ()
    highlights: tuple[tuple[int, int], ...] = ()  # where the matched terms are in `snippet`

    def render(self) -> str:
        """A few human-readable lines."""
        verdict = "matches" if self.matched else "does not match"
        lines = [f"topic {self.topic!r} {verdict}", f"  query: {self.query}"]
        lines.append("  terms:")
        lines.extend(f"    {label}: {count}" for label, count in self.terms.items())
        if self.failed:
            lines.append("  failed:")
            lines.extend(f"    {reason}" for reason in self.failed)
        if self.snippet:
            lines.append(f"  snippet: {mark(self.snippet, self.highlights)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class Reasons:
    """Evaluates a query tree node by node and says which clauses failed."""

    def __init__(
        self,
        atom_of: dict[Term | Lang, int],
        held: set[int],
        counts: dict[int, int],
        min_count: int,
        lang: str,
    ) -> None:
        self.atom_of = atom_of
        self.held = held
        self.counts = counts
        self.min_count = min_count
        self.lang = lang

    def holds(self, node: Node) -> bool:
        if isinstance(node, Term | Lang):
            return self.atom_of[node] in self.held
        if isinstance(node, Not):
            return not self.holds(node.child)
        if isinstance(node, Or):
            return any(self.holds(child) for child in node.children)
        return all(self.holds(child) for child in node.children)

    def failed(self, node: Node) -> list[str]:
        """Readable reasons why `node` does not hold (empty if it holds)."""
        if self.holds(node):
            return []
        if isinstance(node, Term):
            count = self.counts.get(self.atom_of[node], 0)
            if count == 0:
                return [f"{node.label}: not found"]
            return [f"{node.label}: found {count}, needs {self.min_count}"]
        if isinstance(node, Lang):
            return [f"{node.label}: the article's language is {self.lang or 'unknown'}"]
        if isinstance(node, Not):
            found = ""
            if isinstance(node.child, Term):
                found = f" {self.counts.get(self.atom_of[node.child], 0)}"
            return [f"NOT {node.child.label}: found{found}"]
        if isinstance(node, Or):
            return [f"{node.label}: none found"]
        assert isinstance(node, And)
        return [reason for child in node.children for reason in self.failed(child)]
