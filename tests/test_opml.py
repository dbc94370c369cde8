"""OPML feed lists (read, write, round trip, hostile files) and adding feeds to the settings file
without touching what a person wrote there."""

from __future__ import annotations

import difflib
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.config import FeedSource, load_settings
from crawler.errors import SettingsError
from crawler.sources.opml import OpmlError, OpmlFeed, read_opml, write_opml
from crawler.sources.settings_file import add_feeds

from support.runner import run_crawler

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="News" title="News">
      <outline text="World">
        <outline type="rss" text="Courier World" xmlUrl="https://courier.example/world.xml"
                 htmlUrl="https://courier.example/world/"/>
        <outline type="rss" title="Herald" xmlurl="https://herald.example/atom.xml"
                 category="/Europe/Politics,Daily"/>
      </outline>
      <!-- a comment between outlines -->
      <outline type="rss" text="  The   Gazette " XMLURL="https://gazette.example/rss"/>
    </outline>
    <outline type="rss" xmlUrl="https://untitled.example/feed"/>
    <outline text="Tech">
      <outline text="Courier again" xmlUrl="https://COURIER.example/world.xml#top"/>
      <outline text="Old reader" xmlUrl="feed://old.example/rss"/>
      <outline text="Script" xmlUrl="javascript:alert(1)"/>
    </outline>
    <outline text="Empty folder"/>
  </body>
</opml>"""

SETTINGS = """\
# My crawler settings -- hand-written, keep these comments!
[output]
dir = "out"   # where items go

[fetch]
allow_hosts = []

[[feeds]]
url = "https://courier.example/world.xml"
# every = "5m"   # a commented-out option of this feed

# Sites without feeds
[[sites]]
start = ["https://site.example/"]

[mail]
from = "me@example.org"  # sender
"""


def only_insertions(before: str, after: str) -> list[str]:
    """The text `after` adds to `before`; fails if anything in `before` changed."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    added = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        assert op in ("equal", "insert"), f"{op}: {before[a1:a2]!r} -> {after[b1:b2]!r}"
        if op == "insert":
            added.append(after[b1:b2])
    return added


def by_url(feed: OpmlFeed) -> str:
    return feed.url


# -- reading ---------------------------------------------------------------------------------------


def test_read_nested_outlines_with_categories() -> None:
    feeds = read_opml(NESTED)
    assert feeds == [
        OpmlFeed("https://courier.example/world.xml", "Courier World", ["News", "World", "Tech"]),
        OpmlFeed(
            "https://herald.example/atom.xml",
            "Herald",
            ["News", "World", "Europe", "Politics", "Daily"],
        ),
        OpmlFeed("https://gazette.example/rss", "The Gazette", ["News"]),
        OpmlFeed("https://untitled.example/feed", None, []),
        OpmlFeed("http://old.example/rss", "Old reader", ["Tech"]),
    ]


def test_not_opml_is_refused() -> None:
    with pytest.raises(OpmlError, match="not valid XML"):
        read_opml(b"<opml><body><outline></body>")
    with pytest.raises(OpmlError, match="not an OPML file"):
        read_opml(b"<rss version='2.0'><channel/></rss>")
    with pytest.raises(OpmlError, match="no <body>"):
        read_opml(b"<opml version='2.0'><head/></opml>")
    assert read_opml(b"<opml version='1.0'><body/></opml>") == []


def test_an_entity_expansion_bomb_is_refused_quickly() -> None:
    entities = '<!ENTITY lol0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    for where in ('<outline text="&lol9;" xmlUrl="https://a.example/"/>', "<title>&lol9;</title>"):
        bomb = f'<?xml version="1.0"?><!DOCTYPE opml [{entities}]><opml><body>{where}</body></opml>'
        started = time.monotonic()
        with pytest.raises(OpmlError):
            read_opml(bomb.encode())
        assert time.monotonic() - started < 1
    small = b'<!DOCTYPE opml [<!ENTITY x "https://a.example/">]><opml><body><outline xmlUrl="&x;"/></body></opml>'
    with pytest.raises(OpmlError, match="declares XML entities"):
        read_opml(small)


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    for where in ('<outline text="&s;" xmlUrl="https://a.example/"/>', "<outline>&s;</outline>"):
        hostile = (
            f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY s SYSTEM "{secret.as_uri()}">]>'
            f"<opml><body>{where}</body></opml>"
        )
        with pytest.raises(OpmlError):
            read_opml(hostile.encode())


# -- writing ---------------------------------------------------------------------------------------


def test_write_nests_tags_as_folders() -> None:
    data = write_opml(
        [
            OpmlFeed("https://a.example/rss", "A & B <news>", ["News", "World"]),
            OpmlFeed("https://b.example/rss", None, ["News"]),
            OpmlFeed("https://c.example/rss", "C", []),
        ],
        "crawler feeds",
    )
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'<opml version="2.0">' in data and b"<title>crawler feeds</title>" in data
    assert data.count(b'text="News"') == 1  # one folder, two feeds in it
    assert read_opml(data) == [
        OpmlFeed("https://a.example/rss", "A & B <news>", ["News", "World"]),
        OpmlFeed("https://b.example/rss", None, ["News"]),
        OpmlFeed("https://c.example/rss", "C", []),
    ]


_words = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn")), min_size=1
).map(lambda s: " ".join(s.split()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.none() | _words.filter(bool),
            st.lists(_words.filter(bool), max_size=3, unique=True),
        ),
        max_size=6,
        unique_by=lambda t: t[0],
    )
)
def test_a_round_trip_keeps_urls_titles_and_tags(
    rows: list[tuple[int, str | None, list[str]]],
) -> None:
    feeds = [OpmlFeed(f"https://f{n}.example/feed", title, tags) for n, title, tags in rows]
    # feeds that share tags are written into one folder: the order may change, nothing else
    assert sorted(read_opml(write_opml(feeds, "t")), key=by_url) == sorted(feeds, key=by_url)


# -- the settings file -----------------------------------------------------------------------------


def test_add_feeds_keeps_every_byte_and_comment(tmp_path: Path) -> None:
    path = tmp_path / "crawler.toml"
    path.write_text(SETTINGS)
    added = add_feeds(
        path,
        [
            FeedSource(url="https://COURIER.example/world.xml"),  # already there
            FeedSource(url="https://new.example/rss", name='The "New" One', tags=["A", "B/C"]),
            FeedSource(url="https://other.example/atom"),
        ],
    )
    assert added == ["https://new.example/rss", "https://other.example/atom"]
    text = path.read_text()
    inserted = only_insertions(SETTINGS, text)
    assert len(inserted) == 1
    # after the last feed and its own comment, before the comment that introduces [[sites]]
    assert text.index("# every") < text.index("new.example") < text.index("# Sites without")
    assert "\n\n# Sites without feeds\n[[sites]]" in text
    settings = load_settings(path)
    assert [f.url for f in settings.feeds] == [
        "https://courier.example/world.xml",
        "https://new.example/rss",
        "https://other.example/atom",
    ]
    assert settings.feeds[1].name == 'The "New" One' and settings.feeds[1].tags == ["A", "B/C"]
    assert add_feeds(path, [FeedSource(url="https://new.example/rss")]) == []
    assert path.read_text() == text


def test_add_feeds_to_files_of_other_shapes(tmp_path: Path) -> None:
    path = tmp_path / "crawler.toml"
    shapes = [
        "# nothing but a comment",  # no feeds, no final newline
        "[mail]\r\nfrom = 'me@example.org' # windows\r\n\r\n[[feeds]]\r\nurl = 'https://a.example/'\r\n",
        "feeds = []  # none yet\n\n[mail]\nfrom = 'me@example.org'\n",
        # a multi-line string with lines that look like tables
        '[[feeds]]\nurl = "https://a.example/"\n\n[fetch]\nuser_agent = """a\n[[feeds]]\n[mail]\n"""\n'
        'timeout = "10s"\n',
    ]
    for original in shapes:
        path.write_bytes(original.encode())
        assert add_feeds(path, [FeedSource(url="https://b.example/", tags=["x"])]) == [
            "https://b.example/"
        ]
        text = path.read_bytes().decode()
        if not original.startswith("feeds = []"):  # an inline array grows inside itself
            only_insertions(original, text)
        if "\r\n" in original:
            assert "\n" not in text.replace("\r\n", "")
        feeds = load_settings(path).feeds
        assert feeds[-1].url == "https://b.example/" and feeds[-1].tags == ["x"]


def test_add_feeds_refuses_a_result_that_is_not_valid(tmp_path: Path) -> None:
    path = tmp_path / "crawler.toml"
    path.write_text(SETTINGS)
    bad = FeedSource.model_construct(url="ftp://files.example/feed", name=None, tags=[])
    with pytest.raises(SettingsError, match=r"feeds\[1\]\.url"):
        add_feeds(path, [bad])
    assert path.read_text() == SETTINGS
    assert [p.name for p in tmp_path.iterdir()] == ["crawler.toml"]  # no temporary file left
    path.write_text(SETTINGS + "[oops\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        add_feeds(path, [FeedSource(url="https://new.example/rss")])


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "crawler.toml"
    path.write_text(SETTINGS)
    added = add_feeds(path, [FeedSource(url="https://new.example/rss")], dry_run=True)
    assert added == ["https://new.example/rss"]
    assert path.read_text() == SETTINGS


# -- the commands ----------------------------------------------------------------------------------


def test_import_then_export_then_read(tmp_path: Path) -> None:
    (tmp_path / "crawler.toml").write_text(SETTINGS)
    (tmp_path / "subs.opml").write_bytes(NESTED)
    dry = run_crawler(
        "--settings", "crawler.toml", "sources", "import", "subs.opml", "--dry-run", cwd=tmp_path
    )
    assert dry.returncode == 0, dry.stderr
    assert "4 would be added to" in dry.stdout and "1 already there" in dry.stdout
    assert (tmp_path / "crawler.toml").read_text() == SETTINGS

    imported = run_crawler(
        "--settings", "crawler.toml", "sources", "import", "subs.opml", cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert "subs.opml: 5 feed(s)" in imported.stdout
    assert "4 added to" in imported.stdout and "1 already there" in imported.stdout
    assert (
        "added  https://herald.example/atom.xml  Herald  [News, World, Europe, Politics, Daily]"
        in imported.stdout
    )
    text = (tmp_path / "crawler.toml").read_text()
    only_insertions(SETTINGS, text)
    feeds = {f.url: f for f in load_settings(tmp_path / "crawler.toml").feeds}
    assert feeds["https://gazette.example/rss"].tags == ["News"]
    assert feeds["https://gazette.example/rss"].name == "The Gazette"
    assert feeds["https://untitled.example/feed"].name is None

    again = run_crawler(
        "--settings", "crawler.toml", "sources", "import", "subs.opml", cwd=tmp_path
    )
    assert "0 added to" in again.stdout and "5 already there" in again.stdout
    assert (tmp_path / "crawler.toml").read_text() == text

    check = run_crawler("--settings", "crawler.toml", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "https://gazette.example/rss  every 10m  (The Gazette)  [News]" in check.stdout

    exported = run_crawler("--settings", "crawler.toml", "sources", "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    to_file = run_crawler(
        "--settings", "crawler.toml", "sources", "export", "-o", "out.opml", cwd=tmp_path
    )
    assert to_file.returncode == 0 and "5 feed(s) written to out.opml" in to_file.stderr
    assert read_opml((tmp_path / "out.opml").read_bytes()) == read_opml(exported.stdout.encode())
    settings_feeds = load_settings(tmp_path / "crawler.toml").feeds
    assert sorted(read_opml(exported.stdout.encode()), key=by_url) == sorted(
        (OpmlFeed(f.url, f.name, f.tags) for f in settings_feeds), key=by_url
    )
    # the imported feeds come back with the urls, titles and tags they went in with
    round_trip = {f.url: f for f in read_opml(exported.stdout.encode())}
    for feed in read_opml(NESTED):
        if feed.url != "https://courier.example/world.xml":  # was in the settings already
            assert round_trip[feed.url] == feed


def test_import_of_a_hostile_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "crawler.toml").write_text(SETTINGS)
    (tmp_path / "bomb.opml").write_text(
        '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<opml><body><outline text="&b;" xmlUrl="https://a.example/&b;"/></body></opml>'
    )
    result = run_crawler(
        "--settings", "crawler.toml", "sources", "import", "bomb.opml", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "bomb.opml: refused: the document declares XML entities" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_crawler(
        "--settings", "crawler.toml", "sources", "import", "nope.opml", cwd=tmp_path
    )
    assert missing.returncode == 2 and "cannot read nope.opml" in missing.stderr
    assert (tmp_path / "crawler.toml").read_text() == SETTINGS
