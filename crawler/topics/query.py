"""Topic queries: parse Lucene syntax with luqum and compile it into a small boolean tree.

The tree has five node types: :class:`Term` (a word, phrase, proximity phrase or trailing
wildcard, on one or more fields), :class:`Lang` (the article's language), :class:`And`,
:class:`Or` and :class:`Not`. Terms hold normalised tokens (see ``text.py``), so matching never
looks at the query text again. Everything the matcher cannot honour is a :class:`QueryError`
with the 0-based position and a hint; ``errors.py`` explains the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from luqum import tree
from luqum.exceptions import ParseError
from luqum.thread import parse

from crawler.errors import QueryError
from crawler.topics.syntax import describe_parse_error, precheck
from crawler.topics.text import tokenize

TEXT_FIELDS = ("title", "text")
"""The fields a term without ``field:`` searches."""
TOKEN_FIELDS = ("title", "text", "url", "source", "author")
FIELDS = (*TOKEN_FIELDS, "lang")
MIN_PREFIX = 2
_ESCAPED = tree.Term.WORD_ESCAPED_CHARS  # a backslash-escaped character
_FIELD_HINT = f"known fields: {', '.join(FIELDS)}; put text that contains ':' in quotes"


@dataclass(frozen=True, slots=True)
class Term:
    """Tokens to find in some fields: a word (1 token), a phrase, or a proximity phrase.

    `prefix` makes the last token match any token that starts with it (``sanction*``).
    `slop` (proximity only) lets the tokens appear in any order within
    ``len(tokens) - 1 + slop`` positions of each other. `label` is the term as written.
    """

    fields: tuple[str, ...]
    tokens: tuple[str, ...]
    label: str
    position: int
    prefix: bool = False
    slop: int | None = None


@dataclass(frozen=True, slots=True)
class Lang:
    """The article's language (ISO 639-1 primary subtag) is `code`."""

    code: str
    label: str
    position: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    label: str
    position: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    label: str
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    """An exclusion; only valid as an operand of an And that also has a positive operand."""

    child: Node
    label: str
    position: int


Node = Term | Lang | And | Or | Not


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed, checked query: `text` as the user wrote it and its compiled `root`."""

    text: str
    root: Node


def parse_query(query: str) -> Query:
    """Parse and check `query`; raise :class:`QueryError` if it cannot be matched.

    >>> parse_query('iran -football').root.label
    'iran -football'
    """
    precheck(query)
    try:
        parsed = parse(query)
        root = _Builder(query).build(parsed, None)
        _check_negations(query, root, top=True)
    except ParseError as exc:  # IllegalCharacterError and ParseSyntaxError
        raise describe_parse_error(query, str(exc)) from None
    except RecursionError:  # e.g. thousands of NOTs in a row; parentheses are caught earlier
        raise QueryError(query, "query nested too deeply", None, "simplify it") from None
    return Query(query, root)


def check_query(query: str) -> None:
    """Raise :class:`QueryError` if `query` is not a valid topic query."""
    parse_query(query)


class _Builder:
    """Turns a luqum tree into our nodes, rejecting the syntax we do not support."""

    def __init__(self, query: str) -> None:
        self.query = query

    def error(self, item: tree.Item, message: str, hint: str) -> QueryError:
        return QueryError(self.query, message, item.pos, hint)

    def source(self, item: tree.Item) -> str:
        return self.query[item.pos : item.pos + item.size].strip()

    def build(self, item: tree.Item, field: str | None) -> Node:
        if isinstance(item, tree.SearchField):
            return self.search_field(item, field)
        if isinstance(item, tree.BaseGroup):
            return _relabel(self.build(item.expr, field), self.source(item), item.pos)
        if isinstance(item, tree.OrOperation):
            children = tuple(self.build(op, field) for op in item.operands)
            return Or(children, self.source(item), item.pos)
        if isinstance(item, tree.AndOperation | tree.UnknownOperation | tree.BoolOperation):
            children = tuple(self.build(op, field) for op in item.operands)
            return And(children, self.source(item), item.pos)
        if isinstance(item, tree.Not | tree.Prohibit):
            return Not(self.build(item.a, field), self.source(item), item.pos)
        if isinstance(item, tree.Plus):
            return _relabel(self.build(item.a, field), self.source(item), item.pos)
        if field == "lang":
            return self.lang(item)
        if isinstance(item, tree.Word):
            return self.word(item, field)
        if isinstance(item, tree.Phrase):
            return self.phrase(item, field, None)
        if isinstance(item, tree.Proximity):
            return self.phrase(item.term, field, item.degree, self.source(item))
        raise self.unsupported(item)

    def unsupported(self, item: tree.Item) -> QueryError:
        text = self.source(item)
        if isinstance(item, tree.Fuzzy):
            return self.error(
                item,
                f"fuzzy search {text!r} is not supported",
                'a "~" after a single word asks for similar spellings; for words near each '
                'other write a phrase such as "iran drones"~5, for word endings use sanction*',
            )
        if isinstance(item, tree.Range | tree.From | tree.To):
            return self.error(item, f"range {text!r} is not supported", "topics match words only")
        if isinstance(item, tree.Regex):
            return self.error(
                item,
                f"regular expression {text!r} is not supported",
                "use a trailing wildcard such as sanction* or put the text in quotes",
            )
        if isinstance(item, tree.Boost):
            return self.error(
                item, f"boost {text!r} is not supported", "topics match or not; remove the '^'"
            )
        return self.error(item, f"{text!r} is not supported", "see the query syntax in the docs")

    def search_field(self, item: tree.SearchField, outer: str | None) -> Node:
        name = item.name.lower()
        if outer is not None:
            raise self.error(item, f"field {item.name!r} inside field {outer!r}", _FIELD_HINT)
        if name not in FIELDS:
            raise self.error(item, f"unknown field {item.name!r}", _FIELD_HINT)
        return _relabel(self.build(item.expr, name), self.source(item), item.pos)

    def lang(self, item: tree.Item) -> Lang:
        code = item.value.lower() if isinstance(item, tree.Word) else ""
        if not code.isalpha() or not 2 <= len(code) <= 3:
            raise self.error(
                item, f"lang: needs a language code, not {self.source(item)!r}", "e.g. lang:en"
            )
        return Lang(code, f"lang:{code}", item.pos)

    def word(self, item: tree.Word, field: str | None) -> Term:
        value = item.value
        label = value if field is None else f"{field}:{value}"
        if value.startswith("!"):
            raise self.error(item, "'!' is not supported", "use NOT or - to exclude a term")
        if value in ("&&", "||"):
            raise self.error(item, f"{value!r} is not supported", "write AND or OR")
        wildcards = [span for span, _ in item.iter_wildcards()]
        prefix = bool(wildcards)
        if prefix:
            star = len(value) - 1
            if len(wildcards) > 1 or wildcards[0][0] != star or value[star] != "*":
                raise self.error(
                    item,
                    f"wildcard in {value!r} is not supported",
                    "only a trailing * is supported, as in sanction*",
                )
            value = value[:star]
        tokens = tuple(tokenize(_ESCAPED.sub(r"\1", value)))
        if not tokens:
            raise self.error(
                item, f"{item.value!r} has no letters or digits to search for", "remove it"
            )
        if prefix and len(tokens[-1]) < MIN_PREFIX:
            raise self.error(
                item,
                f"wildcard {item.value!r} is too short",
                f"put at least {MIN_PREFIX} letters before the *",
            )
        return Term(_fields(field), tokens, label, item.pos, prefix=prefix)

    def phrase(
        self, item: tree.Phrase, field: str | None, slop: int | None, written: str = ""
    ) -> Term:
        written = written or item.value
        label = written if field is None else f"{field}:{written}"
        inner = item.unescaped_value[1:-1]
        if "*" in inner:
            raise self.error(
                item,
                f"wildcard inside quotes {item.value!r} is not supported",
                "write the words without quotes, as in iran sanction*",
            )
        tokens = tuple(tokenize(inner))
        if not tokens:
            raise self.error(item, "empty phrase", "put words between the quotes")
        if len(tokens) == 1 or slop == 0:
            slop = None
        return Term(_fields(field), tokens, label, item.pos, slop=slop)


def _fields(field: str | None) -> tuple[str, ...]:
    return TEXT_FIELDS if field is None else (field,)


def _relabel(node: Node, label: str, position: int) -> Node:
    """Give an operator node the source text of the group or field that wraps it."""
    if isinstance(node, And | Or | Not):
        return replace(node, label=label, position=position)
    return node


def _check_negations(query: str, node: Node, *, top: bool = False) -> None:
    """Exclusions are only allowed next to a positive clause of the same AND."""
    if isinstance(node, Not):
        hint = 'add a term to look for, e.g. "iran -football" or "iran AND NOT football"'
        if top:
            raise QueryError(query, "the query has only exclusions", node.position, hint)
        raise QueryError(
            query,
            f"{node.label!r} excludes but nothing here includes",
            node.position,
            "NOT and - go next to a positive term in the same AND, e.g. (iran OR iraq) -football",
        )
    if isinstance(node, And):
        positive = [child for child in node.children if not isinstance(child, Not)]
        if not positive:
            _check_negations(query, node.children[0], top=top)
        for child in node.children:
            _check_negations(query, child.child if isinstance(child, Not) else child)
    elif isinstance(node, Or):
        for child in node.children:
            _check_negations(query, child)
