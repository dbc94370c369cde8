"""Topic queries and the compiled matcher.

A topic is a query in Lucene syntax, matched against an article's title, text, URL, source,
author and language:

=========================  ==============================================================
``iran drones``            both words (a space means AND, as in Google Alerts)
``iran OR tehran``         either word; ``AND``, ``OR``, ``NOT`` are upper case
``iran -football``         ``-x`` / ``NOT x`` exclude, next to a positive clause only
``+iran``                  required (same as a bare word)
``"artillery shells"``     a phrase: the words in this order, next to each other
``"iran drones"~5``        the words within 5 extra positions of each other, any order
``sanction*``              a trailing wildcard: any word that starts with "sanction"
``(a OR b) AND c``         grouping
``title:iran``             one field: ``title``, ``text``, ``url``, ``source``, ``author``;
                           a bare term searches title and text
``lang:en``                the article's language (ISO 639-1)
=========================  ==============================================================

Words match whole words, ignoring case and accents ("Téhéran" = "teheran"). Punctuation
separates words, so ``Iran-Russia`` finds "Iran Russia" and "Iran-Russia"; a possessive
``'s`` is ignored ("Iran\u2019s" is found by ``iran``). Latin, Cyrillic, Greek, Arabic, Hebrew and
other scripts with spaces between words work alike. Chinese, Japanese and Korean are split into
overlapping two-character pieces (as Lucene's CJK analyzer does), so a word in those scripts is
found wherever its characters appear in sequence.

Per topic, ``stem`` compares Snowball stems in the article's language (English when the article
has none we know; wildcards are never stemmed), and ``min_count`` makes a term count only when
it occurs that many times (an excluded one too: with ``min_count = 2``, ``iran -football`` drops
an article that says "football" twice, not once).
Not supported, each with a :class:`crawler.errors.QueryError` that says so: fuzzy ``word~``,
ranges, regular expressions, boosts, and wildcards other than one trailing ``*``.

>>> matcher = Matcher([Topic("arms", '(iran OR tehran) AND "artillery shells"')])
>>> [m.terms for m in matcher.match(Document(text="Tehran sent artillery shells."))]
[{'tehran': 1, '"artillery shells"': 1}]
"""

from __future__ import annotations

from crawler.topics.explain import Explanation
from crawler.topics.matcher import Matcher
from crawler.topics.models import Document, Topic, TopicMatch
from crawler.topics.query import Query, check_query, parse_query

__all__ = [
    "Document",
    "Explanation",
    "Matcher",
    "Query",
    "Topic",
    "TopicMatch",
    "check_query",
    "parse_query",
]
