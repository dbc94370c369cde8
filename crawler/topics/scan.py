"""One article scanned for one matcher: its tokens, the keys found, and every atom's count.

A :class:`Scan` tokenises each field once, runs each channel's automaton over the joined
tokens, and counts the atoms whose keys were found. Positions (token indices) are only worked
out when a proximity atom or a snippet needs them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from itertools import accumulate, count
from operator import add

from crawler.topics.channel import AtomFacts, Channel
from crawler.topics.models import Document, Snippet
from crawler.topics.stemming import stem_tokens
from crawler.topics.text import Tokens

Span = tuple[int, int]  # [first, last + 1): token indices, or character offsets
Needs = tuple[tuple[int, int], ...]


class Scan:
    """What one document holds for one matcher; filled channel by channel with :meth:`run`."""

    def __init__(self, doc: Document, atoms: AtomFacts) -> None:
        self.doc = doc
        self.atoms = atoms
        self.counts: dict[int, int] = {}
        self.snippets: dict[tuple[int, ...], Snippet] = {}  # matched atoms -> snippet
        self._channels: dict[bool, tuple[Channel, str | None]] = {}  # by "stemmed"
        self._hits: dict[tuple[str, str | None], dict[int, list[int]]] = {}
        self._tokens: dict[tuple[str, str | None], list[str]] = {}
        self._starts: dict[tuple[str, str | None], list[int]] = {}
        self._indices: dict[tuple[str, str | None, int], list[int]] = {}
        self._texts: dict[str, Tokens] = {}
        self._spans: dict[tuple[int, str], list[Span]] = {}

    def tokens(self, name: str, lang: str | None = None) -> list[str]:
        """The tokens of field `name`, stemmed in `lang` unless it is None."""
        key = (name, lang)
        if key not in self._tokens:
            if lang is None:
                self._tokens[key] = self.text(name).tokens
            else:
                self._tokens[key] = stem_tokens(self.tokens(name), lang)
        return self._tokens[key]

    def run(self, channel: Channel, lang: str | None) -> None:
        """Scan the fields `channel` looks at and count the atoms whose keys were found."""
        self._channels[lang is not None] = (channel, lang)
        if channel.automaton is None:
            return
        counts = self.counts
        sequences = channel.sequences
        channel_nears = channel.nears
        nears: set[int] = set()
        for name in channel.fields:
            tokens = self.tokens(name, lang)
            if not tokens:
                continue
            hits: defaultdict[int, list[int]] = defaultdict(list)
            for end, kid in channel.automaton.iter(" " + " ".join(tokens) + " "):
                hits[kid].append(end)
            self._hits[name, lang] = hits
            watched = sequences[name]
            for kid, ends in hits.items():
                watchers = watched[kid]
                if watchers:
                    found = len(ends)
                    for atom_id in watchers:
                        counts[atom_id] = counts.get(atom_id, 0) + found
                if channel_nears[kid]:
                    nears.update(channel_nears[kid])
        if not nears:
            return
        present = set().union(
            *(self._hits[name, lang] for name in channel.fields if (name, lang) in self._hits)
        )
        for atom_id in nears:
            if not present.issuperset(channel.near_keys[atom_id]):
                continue
            needs, span = channel.near_plans[atom_id]
            total = 0
            for name in self.atoms.fields[atom_id]:
                if (name, lang) in self._hits:
                    total += len(self._near(channel, needs, span, name, lang))
            if total:
                counts[atom_id] = total

    def held(self) -> set[int]:
        """Atoms found at least `min_count` times."""
        minimum = self.atoms.min_counts
        return {atom for atom, count in self.counts.items() if count >= minimum[atom]}

    def text(self, name: str) -> Tokens:
        """Field `name`, tokenised."""
        text = self._texts.get(name)
        if text is None:
            text = self._texts[name] = Tokens(getattr(self.doc, name))
        return text

    def hit_spans(self, atom_id: int, name: str) -> list[Span]:
        """Where atom `atom_id` occurs in field `name`, as ranges of the field's plain tokens
        joined by spaces (the string the plain automaton scanned); see :meth:`original`."""
        key = (atom_id, name)
        spans = self._spans.get(key)
        if spans is None:
            spans = self._spans[key] = self._hit_spans(atom_id, name)
        return spans

    def original(self, name: str, joined: Span) -> Span:
        """The characters of field `name` as written under a range of its joined tokens."""
        starts = self._joined_starts(name, None)
        first = max(0, bisect_right(starts, joined[0]) - 1)
        last = max(first + 1, bisect_left(starts, joined[1]))
        return self.text(name).span(first, min(last, len(starts)))

    def _scanned_by(self, atom_id: int, name: str) -> tuple[Channel, str | None] | None:
        """The channel (and its language) that counted atom `atom_id` in field `name`."""
        stemmed = self.atoms.stemmed[atom_id]
        if name not in self.atoms.fields[atom_id] or stemmed not in self._channels:
            return None
        channel, lang = self._channels[stemmed]
        return (channel, lang) if (name, lang) in self._hits else None

    def _hit_spans(self, atom_id: int, name: str) -> list[Span]:
        scanned = self._scanned_by(atom_id, name)
        if scanned is None:
            return []
        channel, lang = scanned
        if lang is None and atom_id in channel.sequence_plans:
            kid, _ = channel.sequence_plans[atom_id]
            offset = 2 - channel.key_lengths[kid]  # from the key's last character to its token
            return [(end + offset, end) for end in self._hits[name, lang].get(kid, ())]
        starts = self._joined_starts(name, None)
        tokens = self.tokens(name)
        return [
            (starts[first], starts[last - 1] + len(tokens[last - 1]))
            for first, last in self._token_spans(atom_id, name)
        ]

    def _token_spans(self, atom_id: int, name: str) -> list[Span]:
        scanned = self._scanned_by(atom_id, name)
        if scanned is None:
            return []
        channel, lang = scanned
        if atom_id in channel.near_plans:
            return self._near(channel, *channel.near_plans[atom_id], name, lang)
        kid, length = channel.sequence_plans[atom_id]
        return [(first, first + length) for first in self._token_indices(channel, name, lang, kid)]

    def _token_indices(self, channel: Channel, name: str, lang: str | None, kid: int) -> list[int]:
        """Token indices where key `kid` was found in field `name`, in order."""
        key = (name, lang, kid)
        indices = self._indices.get(key)
        if indices is None:
            starts = self._joined_starts(name, lang)
            offset = 2 - channel.key_lengths[kid]  # from the key's last character to its token
            ends = self._hits[name, lang].get(kid, [])
            indices = self._indices[key] = [bisect_left(starts, end + offset) for end in ends]
        return indices

    def _joined_starts(self, name: str, lang: str | None) -> list[int]:
        """Where each token starts in ``" " + " ".join(tokens) + " "``."""
        starts = self._starts.get((name, lang))
        if starts is None:
            lengths = accumulate(map(len, self.tokens(name, lang)), initial=0)
            starts = self._starts[name, lang] = list(map(add, lengths, count(1)))[:-1]
        return starts

    def _near(
        self, channel: Channel, needs: Needs, span: int, name: str, lang: str | None
    ) -> list[Span]:
        """Windows of at most ``span + 1`` tokens, starting on a needed token, that hold every
        needed token (with multiplicity): one per start position."""
        hits = self._hits[name, lang]
        for kid, times in needs:
            if len(hits.get(kid, ())) < times:
                return []
        positions = [(self._token_indices(channel, name, lang, kid), times) for kid, times in needs]
        windows: list[Span] = []
        for start in sorted({index for indices, _ in positions for index in indices}):
            last = start
            for indices, times in positions:
                at = bisect_left(indices, start) + times - 1
                if at >= len(indices) or indices[at] > start + span:
                    break
                last = max(last, indices[at])
            else:
                windows.append((start, last + 1))
        return windows
