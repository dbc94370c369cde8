"""Settings that would wedge or disarm the daemon, and files that cannot be read: `crawler check`
exits 2 with one line naming the file and the key, a daemon refuses to start on them, and a
running daemon keeps its old settings when SIGHUP brings one."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from crawler.cli import main

from support.daemonproc import Daemon, wait_for
from support.localsite import LocalSite
from support.pages import ago, rss
from support.runner import base_settings, run_crawler

FEED = '[[feeds]]\nurl = "https://example.org/rss.xml"\n'


def _check(tmp_path: Path, text: str | bytes, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "crawler.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    code = main(["--settings", str(path), "check"])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"crawler: settings error: {path}"), err
    return err


OUT_OF_RANGE = [
    # section text, key named, words in the message
    ('[fetch]\ntimeout = "-5s"\n', "fetch.timeout", "longer than 0s"),
    ('[fetch]\ntimeout = "0s"\n', "fetch.timeout", "longer than 0s"),
    ("[fetch]\ntimeout = 0\n", "fetch.timeout", "longer than 0s"),
    ('[fetch]\ntimeout = "2h"\n', "fetch.timeout", "at most 1h"),
    ("[fetch]\ntimeout = inf\n", "fetch.timeout", "longer than 3650 days"),
    ("[fetch]\ntimeout = nan\n", "fetch.timeout", "longer than 3650 days"),
    ("[fetch]\ntimeout = 1e300\n", "fetch.timeout", "longer than 3650 days"),
    ('[fetch]\ndelay = "-1s"\n', "fetch.delay", "0s or more"),
    ('[fetch]\ndelay = "2h"\n', "fetch.delay", "at most 1h"),
    ('[fetch]\nmax_age = "0s"\n', "fetch.max_age", "longer than 0s"),
    ('[fetch]\nmax_age = "99999999999999w"\n', "fetch.max_age", "longer than 3650 days"),
    ("[fetch]\nmax_page_size = 0\n", "fetch.max_page_size", "between 1KB and 1GB"),
    ("[fetch]\nmax_page_size = -1\n", "fetch.max_page_size", "between 1KB and 1GB"),
    ('[fetch]\nmax_page_size = "5GB"\n', "fetch.max_page_size", "between 1KB and 1GB"),
    ("[fetch]\nmax_page_size = inf\n", "fetch.max_page_size", "not a size"),
    ('[fetch]\nmax_page_size = "1e300"\n', "fetch.max_page_size", "not a size"),
    (f'[fetch]\nmax_page_size = "{"9" * 400}GB"\n', "fetch.max_page_size", "larger than 1PB"),
    ("[fetch]\nper_domain = 0\n", "fetch.per_domain", "greater than or equal to 1"),
    ("[fetch]\nconcurrency = 0\n", "fetch.concurrency", "greater than or equal to 1"),
    ('[schedule]\nmin_every = "0s"\n', "schedule.min_every", "longer than 0s"),
    ('[schedule]\nmax_every = "-6h"\n', "schedule.max_every", "longer than 0s"),
    ('[schedule]\nmax_every = "60d"\n', "schedule.max_every", "at most 30d"),
    ('[schedule]\nstop_timeout = "-1s"\n', "schedule.stop_timeout", "longer than 0s"),
    ('[schedule]\nstop_timeout = "0s"\n', "schedule.stop_timeout", "longer than 0s"),
    ("[schedule]\njitter = 1\n", "schedule.jitter", "less than 1"),
    ("[schedule]\njitter = -0.1\n", "schedule.jitter", "greater than or equal to 0"),
    ('[archive]\nkeep = "-7d"\n', "archive.keep", "longer than 0s"),
    ('[archive]\nkeep = "0s"\n', "archive.keep", "longer than 0s"),
    ('[dedup]\nkeep = "0d"\n', "dedup.keep", "longer than 0s"),
    ('[dedup]\nkeep = "1e300s"\n', "dedup.keep", "not a duration"),
    ('[mail]\ntimeout = "0s"\n', "mail.timeout", "longer than 0s"),
    (f'{FEED}every = "-10m"\n', "feeds[0].every", "longer than 0s"),
    (f"{FEED}every = 0\n", "feeds[0].every", "longer than 0s"),
    (f'{FEED}every = "1y"\n', "feeds[0].every", "not a duration"),
    (f'{FEED}every = "99999999999999w"\n', "feeds[0].every", "longer than 3650 days"),
    ('[[sitemaps]]\nurl = "https://example.org/sitemap.xml"\nevery = "0s"\n', "sitemaps[0].every",
     "longer than 0s"),
    ('[[sites]]\nstart = "https://example.org/"\nevery = "-1h"\n', "sites[0].every",
     "longer than 0s"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "words"), OUT_OF_RANGE)
def test_check_refuses_a_value_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, words: str
) -> None:
    err = _check(tmp_path, text, capsys)
    assert f": {key}: " in err and words in err, err


def test_the_edges_of_the_ranges_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "crawler.toml"
    path.write_text(
        '[fetch]\ndelay = "0s"\ntimeout = "1h"\nmax_page_size = "1KB"\nmax_age = "3650d"\n'
        '[schedule]\njitter = 0.99\nmin_every = "1s"\nmax_every = "30d"\nstop_timeout = "0.5s"\n'
        f'[archive]\nkeep = "1s"\n{FEED}every = "30d"\n'
    )
    assert main(["--settings", str(path), "check"]) == 0, capsys.readouterr().err


BROKEN_FILES = [
    (b'[fetch]\nuser_agent = "caf\xe9"\n', "not UTF-8 text: byte 0xe9 on line 2"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4, "not UTF-8 text"),
    (b"[fetch]\x00\x00\x00\x01\x02", "not a text file"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000 + b"\n", "nested too deeply"),
    (b"# padding\n" * 1_100_000, "larger than 10 MB"),
]


@pytest.mark.parametrize(("data", "words"), BROKEN_FILES, ids=lambda v: str(v)[:20])
def test_check_refuses_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, words: str
) -> None:
    assert words in _check(tmp_path, data, capsys)


BAD_QUERIES = [
    ("(" * 3000 + "iran" + ")" * 3000, "nested more than 100 deep"),
    ("iran AND " + "NOT " * 2400 + "football", "nested too deeply"),
    (" OR ".join(f"word{n}" for n in range(20000)), "query too long"),
    ("iran " * 200_000, "query too long"),  # 1 MB
]


@pytest.mark.parametrize(("query", "words"), BAD_QUERIES, ids=["parens", "nots", "ors", "1MB"])
def test_check_refuses_a_query_too_deep_or_too_long(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], query: str, words: str
) -> None:
    err = _check(tmp_path, f'[[topics]]\nname = "t"\nquery = "{query}"\n', capsys)
    assert ": topics[0].query: " in err and words in err


@pytest.mark.parametrize(("query", "words"), BAD_QUERIES, ids=["parens", "nots", "ors", "1MB"])
def test_topics_test_refuses_a_query_too_deep_or_too_long(
    tmp_path: Path, query: str, words: str
) -> None:
    query = query[:100_000]  # the most one argument can hold is 128 KiB
    result = run_crawler("topics", "test", query, "-", cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert words in err and "Traceback" not in err
    assert len(err) < 300  # the query is not printed back in full


def test_a_daemon_never_starts_on_a_negative_every(tmp_path: Path) -> None:
    path = tmp_path / "crawler.toml"
    path.write_text(f'[output]\ndir = "{tmp_path / "out"}"\n{FEED}every = "-1s"\n')
    result = run_crawler("--settings", str(path), "run", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"crawler: settings error: {path}: feeds[0].every: must be longer than 0s and at most "
        "30d, got -1s"
    ]


@pytest.mark.parametrize(
    "data",
    [
        b'[fetch]\nuser_agent = "caf\xe9"\n',
        b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
        b'[schedule]\nmin_every = "-1s"\n',
        b'[[topics]]\nname = "t"\nquery = "' + b"(" * 3000 + b"x" + b")" * 3000 + b'"\n',
    ],
    ids=["latin-1", "deep-toml", "negative", "deep-query"],
)
def test_sighup_with_a_broken_file_keeps_the_old_settings(
    site: LocalSite, tmp_path: Path, daemons: list[Daemon], data: bytes
) -> None:
    site.route(
        "/feed.xml",
        rss("Feed", [{"title": "a", "link": site.url("/a"), "guid": "a", "published": ago(1)}]),
        "application/rss+xml",
    )
    settings = tmp_path / "crawler.toml"
    good = f'{base_settings(tmp_path, site)}[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    good += 'every = "1s"\n[schedule]\nmin_every = "1s"\njitter = 0\n'
    settings.write_text(good)
    daemon = Daemon(settings, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: site.hits("/feed.xml") >= 1, what="the first poll")
    settings.write_bytes(data)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in daemon.output(), what="the refusal")
    line = next(ln for ln in daemon.output().splitlines() if "reload refused" in ln)
    assert str(settings) in line and "Traceback" not in daemon.output()
    polls = site.hits("/feed.xml")
    wait_for(lambda: site.hits("/feed.xml") > polls, what="polls on the old settings")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
