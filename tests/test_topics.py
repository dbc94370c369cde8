"""Topic queries: syntax, normalisation, errors, options, snippets and explanations."""

# Typographic apostrophes, Greek and Cyrillic letters are what these tests are about.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

import crawler.topics
from crawler.errors import QueryError
from crawler.topics import Document, Matcher, Topic, TopicMatch, check_query, parse_query
from crawler.topics.text import fold, token_spans, tokenize


def matches(query: str, doc: Document | str, **options: object) -> bool:
    if isinstance(doc, str):
        doc = Document(text=doc)
    return bool(Matcher([Topic("t", query, **options)]).match(doc))  # type: ignore[arg-type]


def only_match(query: str, doc: Document | str, **options: object) -> TopicMatch:
    if isinstance(doc, str):
        doc = Document(text=doc)
    (found,) = Matcher([Topic("t", query, **options)]).match(doc)  # type: ignore[arg-type]
    return found


def test_public_surface() -> None:
    assert sorted(crawler.topics.__all__) == [
        "Document",
        "Explanation",
        "Matcher",
        "Query",
        "Topic",
        "TopicMatch",
        "check_query",
        "parse_query",
    ]


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # implicit AND, explicit operators, grouping
        ("iran drones", "Iran flew drones.", True),
        ("iran drones", "Iran flew jets.", False),
        ("iran AND drones", "drones over Iran", True),
        ("iran OR tehran", "Tehran said", True),
        ("iran OR tehran", "Baghdad said", False),
        ("iran AND NOT football", "Iran votes", True),
        ("iran AND NOT football", "Iran football team", False),
        ("iran -football", "Iran football team", False),
        ("iran -football", "Iran votes", True),
        ("+iran +drones", "Iran drones", True),
        ("+iran +drones", "Iran jets", False),
        ("(iran OR tehran) AND (russia OR moscow)", "Tehran and Moscow", True),
        ("(iran OR tehran) AND (russia OR moscow)", "Tehran and Kyiv", False),
        ("iran -(football OR chess)", "Iran chess", False),
        ("iran -(football chess)", "Iran chess", True),
        ("iran -(football chess)", "Iran chess football", False),
        # phrases
        ('"artillery shells"', "sent artillery shells", True),
        ('"artillery shells"', "shells of artillery", False),
        ('"artillery shells"', "artillery, shells", True),
        # proximity: within len - 1 + slop positions, any order
        ('"iran drones"~2', "Iran bought new cheap drones", False),
        ('"iran drones"~3', "Iran bought new cheap drones", True),
        ('"iran drones"~3', "drones bought by Iran", True),
        ('"iran drones"~0', "drones Iran", False),
        ('"iran drones"~0', "Iran drones", True),
        ('"a b c"~1', "c x a b", True),
        ('"a b c"~1', "c x x a b", False),
        # trailing wildcard: prefix of whole tokens
        ("sanction*", "new sanctions", True),
        ("sanction*", "sanction", True),
        ("sanction*", "desanctioned", False),
        ("iran-sanction*", "Iran sanctioned firms", True),
        (r"sanction\*", "sanctions", False),  # an escaped star is not a wildcard
        (r"sanction\*", "sanction", True),
        # whole words only
        ("iran", "Iranian officials", False),
        ("drone", "drones", False),
    ],
)
def test_syntax(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "doc", "expected"),
    [
        ("iran", Document(title="Iran"), True),
        ("iran", Document(url="https://example.org/iran"), False),
        ("title:iran", Document(title="Iran today"), True),
        ("title:iran", Document(text="Iran today"), False),
        ("text:iran", Document(title="Iran today"), False),
        ("url:iran", Document(url="https://example.org/world/iran-talks"), True),
        ("url:example.org/world", Document(url="https://example.org/world/x"), True),
        ('url:"https://example.org/world"', Document(url="https://example.org/world/x"), True),
        ("source:courier", Document(source="Caspian Courier caspian-courier.example"), True),
        ("source:caspian-courier.example", Document(source="caspian-courier.example"), True),
        ("author:smith", Document(author="Jane Smith"), True),
        ("iran lang:en", Document(text="Iran", lang="en"), True),
        ("iran lang:en", Document(text="Iran", lang="en-GB"), True),
        ("iran lang:en", Document(text="Iran", lang="de"), False),
        ("iran -lang:de", Document(text="Iran", lang="de"), False),
        ("lang:(en OR fr)", Document(text="x", lang="fr"), True),
        ("title:(iran OR iraq) drones", Document(title="Iraq", text="drones"), True),
        ("TITLE:iran", Document(title="Iran"), True),
    ],
)
def test_fields(query: str, doc: Document, expected: bool) -> None:
    assert matches(query, doc) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("iran", "IRAN", True),
        ("IRAN", "iran", True),
        ("teheran", "Téhéran", True),
        ("Téhéran", "TEHERAN", True),
        ("strasse", "Straße", True),
        ("Iran-Russia", "Iran Russia talks", True),
        ("Iran-Russia", "Iran-Russia talks", True),
        ('"iran russia"', "the Iran-Russia deal", True),
        ("russia", "the Iran-Russia deal", True),
        ("iran", "Iran's drones", True),
        ("iran", "Iran’s drones", True),
        ('"iran drones"', "Iran’s drones", True),
        ("iran", "Iran\u02bcs drones", True),  # modifier letter apostrophe
        ("Iran's", "Iran’s drones", True),
        ("iran", "ﬁnd Iran\u00adian", False),  # soft hyphen joins "Iranian"
        ("iranian", "Iran\u00adian", True),
        ("россия", "РОССИЯ и Иран", True),
        ("Москва", "в москве", False),
        ("ελλαδα", "Η ΕΛΛΆΔΑ σήμερα", True),
        ("Ελλάδα", "η ελλαδα", True),
        ("إيران", "قالت إِيرَان اليوم", True),  # harakat are ignored
        ("伊朗", "伊朗总统今天说", True),
        ("总统", "伊朗总统今天说", True),
        ("伊朗总统", "伊朗总统今天说", True),
        ("美国", "伊朗总统今天说", False),
        ("café", "Cafe\u0301 society", True),  # decomposed accent in the text
        ("tm", "Apple™", False),
        ("appletm", "Apple™", True),
    ],
)
def test_normalisation(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Iran-Russia", ["iran", "russia"]),
        ("Iran’s and Iran's", ["iran", "and", "iran"]),
        ("l'Iran", ["l", "iran"]),
        ("Téhéran", ["teheran"]),
        ("F-16s, 2024!", ["f", "16s", "2024"]),
        ("伊朗总统", ["伊朗", "朗总", "总统"]),
        ("中 國", ["中", "國"]),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    "text",
    [
        "Plain ASCII, with-hyphens and Iran's",
        "Téhéran’s “quotes” — ﬁnally Straße",
        "Cafe\u0301 Apple™ ½ İstanbul",
        "伊朗总统 said 今天 ok",
        "РОССИЯ и إِيرَان",
    ],
)
def test_token_spans_line_up_with_tokens(text: str) -> None:
    spans = token_spans(text)
    assert len(spans) == len(tokenize(text))
    for (start, end), token in zip(spans, tokenize(text), strict=True):
        assert token in fold(text[start:end]).replace("\u2019", "'") or len(token) == 2


@pytest.mark.parametrize(
    ("query", "message", "position", "hint"),
    [
        ("", "empty query", 0, "words to look for"),
        ("   ", "empty query", 0, "words to look for"),
        ('iran "drones', "unbalanced quote", 5, "closing"),
        ("(iran OR tehran", "'(' is never closed", 0, "add the ')'"),
        ("iran OR tehran)", "')' closes nothing", 14, "remove"),
        ("((a) b", "'(' is never closed", 0, "')'"),
        ("place:iran", "unknown field 'place'", 0, "title, text, url, source, author, lang"),
        ("iran AND", "dangling operator 'AND'", 5, "both sides"),
        ("iran OR", "dangling operator 'OR'", 5, "both sides"),
        ("AND iran", "dangling operator 'AND'", 0, "both sides"),
        ("iran AND OR x", "dangling operator 'AND'", 5, "both sides"),
        ("(iran AND) x", "dangling operator 'AND'", 6, "both sides"),
        ("iran NOT", "dangling operator 'NOT'", 5, "exclude"),
        ("iran -", "dangling operator '-'", 5, "exclude"),
        ("title:", "field 'title' has no value", 0, "field:term"),
        ("iran ()", "empty parentheses", 5, "inside"),
        ("NOT football", "only exclusions", 0, "iran -football"),
        ("-football", "only exclusions", 0, "iran -football"),
        ("-football -chess", "only exclusions", 0, "add a term"),
        ("iran OR -football", "excludes but nothing here includes", 8, "same AND"),
        ("iran (a OR -b)", "excludes", 11, "same AND"),
        ("iran~2", "fuzzy search 'iran~2' is not supported", 0, "iran drones"),
        ("[a TO b]", "range '[a TO b]' is not supported", 0, "words"),
        ("iran /ira.*/", "regular expression '/ira.*/' is not supported", 5, "wildcard"),
        ("iran^2", "boost", 0, "remove"),
        ("ir*an", "wildcard in 'ir*an' is not supported", 0, "trailing *"),
        ("*iran", "wildcard in '*iran' is not supported", 0, "trailing *"),
        ("ir?n", "wildcard in 'ir?n' is not supported", 0, "trailing *"),
        ("i*", "wildcard 'i*' is too short", 0, "2 letters"),
        ('"iran sanction*"', "wildcard inside quotes", 0, "without quotes"),
        ('iran ""', "empty phrase", 5, "between the quotes"),
        ("iran && x", "'&&' is not supported", 5, "AND"),
        ("!football iran", "'!' is not supported", 0, "NOT"),
        ("iran ...", "no letters or digits", 5, "remove"),
        ("lang:english", "language code", 5, "lang:en"),
        ("title:b:c", "field 'b' inside field 'title'", 6, "quotes"),
    ],
)
def test_errors(query: str, message: str, position: int, hint: str) -> None:
    with pytest.raises(QueryError) as caught:
        check_query(query)
    error = caught.value
    assert message in error.message
    assert error.position == position
    assert hint in error.hint
    assert error.query == query
    assert f"position {position + 1}" in str(error)


def test_matcher_error_names_the_topic() -> None:
    with pytest.raises(QueryError, match="topic 'bad': unknown field 'place'"):
        Matcher([Topic("good", "iran"), Topic("bad", "place:iran")])


def test_duplicate_topic_names_are_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        Matcher([Topic("t", "iran"), Topic("t", "iraq")])


def test_parse_query_gives_the_tree() -> None:
    query = parse_query('(iran OR tehran) -"football match"')
    assert query.text == '(iran OR tehran) -"football match"'
    assert query.root.label == '(iran OR tehran) -"football match"'


@pytest.mark.parametrize(
    ("query", "stem", "text", "lang", "expected"),
    [
        ("sanctions", False, "sanctioned firms", "en", False),
        ("sanctions", True, "sanctioned firms", "en", True),
        ('"new sanctions"', True, "a new sanctioning", "en", True),
        ("sanctions", True, "sanctioned firms", "", True),  # unknown language: English
        ("санкции", True, "новые санкциями", "ru", True),
        ("санкции", False, "новые санкциями", "ru", False),
        ("sanktionen", True, "die Sanktion", "de", True),
        ("sanct*", True, "sanctions", "en", True),
        ("iran -sanctions", True, "Iran sanctioned", "en", False),
    ],
)
def test_stem(query: str, stem: bool, text: str, lang: str, expected: bool) -> None:
    assert matches(query, Document(text=text, lang=lang), stem=stem) is expected


def test_stemming_follows_each_article_language() -> None:
    matcher = Matcher([Topic("t", "sanctions OR санкции", stem=True)])
    assert matcher.match(Document(text="sanctioned", lang="en"))
    assert matcher.match(Document(text="санкциями", lang="ru-RU"))
    assert not matcher.match(Document(text="санкциями", lang="en"))  # Russian unstemmed


def test_stem_and_plain_topics_share_a_matcher() -> None:
    matcher = Matcher([Topic("plain", "drones"), Topic("stem", "drones", stem=True)])
    found = matcher.match(Document(text="a drone", lang="en"))
    assert [m.name for m in found] == ["stem"]
    assert found[0].terms == {"drones": 1}


@pytest.mark.parametrize(
    ("query", "min_count", "text", "expected"),
    [
        ("iran", 2, "Iran said", False),
        ("iran", 2, "Iran said, Iran did", True),
        ("iran", 2, "Iran said", False),
        ('"iran drones"', 2, "Iran drones and Iran drones", True),
        ("iran drones", 2, "Iran drones Iran", False),
        ("iran -football", 2, "Iran Iran football", True),  # one football does not count
        ("iran -football", 2, "Iran Iran football football", False),
    ],
)
def test_min_count(query: str, min_count: int, text: str, expected: bool) -> None:
    assert matches(query, text, min_count=min_count) is expected


def test_terms_are_counted_as_written() -> None:
    found = only_match(
        'Iran "artillery shells" sanction* title:drones -football',
        Document(
            title="Drones",
            text="IRAN bought artillery shells; Iran’s sanctions, sanctioned. Drones too.",
        ),
    )
    assert found.terms == {
        "Iran": 2,
        '"artillery shells"': 1,
        "sanction*": 2,
        "title:drones": 1,
    }


def test_terms_of_a_field_group_carry_the_field() -> None:
    found = only_match(
        "title:(iran OR iraq) drones", Document(title="Iraq and Iran", text="drones")
    )
    assert found.terms == {"title:iran": 1, "title:iraq": 1, "drones": 1}


def test_topics_come_back_in_topic_order() -> None:
    topics = [Topic(f"t{i}", q) for i, q in enumerate(["iran", "lang:en", "drones", "x"])]
    found = Matcher(topics).match(Document(text="drones over Iran", lang="en"))
    assert [m.name for m in found] == ["t0", "t1", "t2"]
    assert len(Matcher(topics)) == 4


LONG = (
    "The ministry published its annual report on Monday. "
    "Analysts expected little news from it. "
    * 3
    + "But Iran's drones and Russian artillery shells were the surprise of the day, "
    "said an official who saw the Iran report. "
    + "Markets closed higher and the weather stayed mild. "
    * 4
)


def test_snippet_is_around_the_densest_cluster() -> None:
    found = only_match("iran drones", LONG)
    assert "Iran's drones" in found.snippet
    assert found.snippet.startswith("…") and found.snippet.endswith("…")
    assert 150 <= len(found.snippet) <= 230
    assert "\n" not in found.snippet


def test_snippet_of_a_short_text_is_the_whole_text() -> None:
    found = only_match("iran", "Iran's\n\nnew   drones.")
    assert found.snippet == "Iran's new drones."


def test_snippet_falls_back_to_the_title() -> None:
    found = only_match("title:iran", Document(title="Iran talks", text="Nothing here."))
    assert found.snippet == "Iran talks"


def test_snippet_keeps_original_casing_and_accents() -> None:
    found = only_match("teheran", "Le président à TÉHÉRAN a parlé.")
    assert "TÉHÉRAN" in found.snippet


def test_snippet_finds_the_words_behind_ligatures_and_ellipses() -> None:
    filler = "Rien à signaler… " * 20
    text = f"ﬁn ½ Straße {filler}Le président à TÉHÉRAN’s drones ont volé. {filler}"
    found = only_match('"teheran drones"', text)
    assert "à TÉHÉRAN’s drones ont volé." in found.snippet
    assert found.snippet.startswith("…") and found.snippet.endswith("…")


def test_snippet_of_cjk_text() -> None:
    found = only_match("总统", "伊朗总统今天说")
    assert found.snippet == "伊朗总统今天说"
    assert found.terms == {"总统": 1}


def test_explain_a_match() -> None:
    matcher = Matcher([Topic("arms", "(iran OR tehran) drones -football")])
    explanation = matcher.explain("arms", Document(text="Iran drones and more drones"))
    assert explanation.matched
    assert explanation.terms == {"iran": 1, "tehran": 0, "drones": 2, "football": 0}
    assert explanation.failed == ()
    assert "Iran drones" in explanation.snippet
    text = str(explanation)
    assert text.splitlines()[0] == "topic 'arms' matches"
    assert "    drones: 2" in text


def test_explain_a_miss_names_the_failed_clauses() -> None:
    matcher = Matcher(
        [Topic("arms", "(iran OR tehran) AND (russia OR moscow) -football", min_count=1)]
    )
    explanation = matcher.explain("arms", Document(text="Iran football football"))
    assert not explanation.matched
    assert explanation.failed == ("(russia OR moscow): none found", "NOT football: found 2")
    assert "does not match" in explanation.render()
    assert "    (russia OR moscow): none found" in explanation.render()


@pytest.mark.parametrize(
    ("query", "options", "doc", "failed"),
    [
        ("iran drones", {}, Document(text="Iran"), ("drones: not found",)),
        ("iran", {"min_count": 3}, Document(text="Iran Iran"), ("iran: found 2, needs 3",)),
        (
            "iran lang:en",
            {},
            Document(text="Iran", lang="de"),
            ("lang:en: the article's language is de",),
        ),
        ('"iran drones"~1', {}, Document(text="Iran a b drones"), ('"iran drones"~1: not found',)),
    ],
)
def test_explain_reasons(
    query: str, options: dict[str, int], doc: Document, failed: tuple[str, ...]
) -> None:
    explanation = Matcher([Topic("t", query, **options)]).explain("t", doc)  # type: ignore[arg-type]
    assert explanation.failed == failed


def test_explain_unknown_topic() -> None:
    with pytest.raises(KeyError):
        Matcher([Topic("t", "iran")]).explain("nope", Document())


def test_many_topics_only_the_right_ones_match() -> None:
    topics = [Topic(f"word{i}", f"word{i} common") for i in range(2000)]
    topics.append(Topic("phrase", '"word7 common"'))
    matcher = Matcher(topics)
    found = matcher.match(Document(text="word7 common and word1999, common"))
    assert [m.name for m in found] == ["word7", "word1999", "phrase"]


def test_explain_all_lists_matches_then_the_closest_misses_within_a_limit() -> None:
    topics = [Topic(f"t{i}", f"word{i} AND other{i}") for i in range(30)]
    topics += [Topic("hit", "iran"), Topic("near", "iran -football")]
    matcher = Matcher(topics)
    doc = Document(text="Iran played football; word3 appeared, and word4.")
    explanations, left_out = matcher.explain_all(doc, limit=3)
    by_name = {e.topic: e for e in explanations}
    # every match, then the misses some of whose terms occur, in topic order
    assert [e.topic for e in explanations] == ["t3", "t4", "hit", "near"]
    assert by_name["hit"].matched and by_name["hit"].failed == ()
    assert by_name["near"].failed == ("NOT football: found 1",)
    assert by_name["t3"].terms == {"word3": 1, "other3": 0}
    assert left_out == 28
    everything, none_left = matcher.explain_all(doc, limit=100)
    assert len(everything) == 32 and none_left == 0
    assert {e.topic: e.terms for e in everything}["t0"] == {"word0": 0, "other0": 0}
