"""The global options work before or after the command, and `crawler check` says when a source's
`every` is outside the schedule's bounds and what is used instead."""

from __future__ import annotations

import json
from pathlib import Path

from support.localsite import LocalSite
from support.pages import ago, rss
from support.runner import base_settings, run_crawler


def _settings(tmp_path: Path, site: LocalSite) -> Path:
    """A feed whose one link is missing: a first pass logs a warning about it."""
    feed = [{"title": "a", "link": site.url("/a"), "guid": "a", "published": ago(1)}]
    site.route("/feed.xml", rss("Feed", feed), "application/rss+xml")
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "crawler.toml"
    path.write_text(f'{base_settings(tmp_path, site)}[[feeds]]\nurl = "{site.url("/feed.xml")}"\n')
    return path


def test_verbose_before_or_after_the_command(site: LocalSite, tmp_path: Path) -> None:
    settings = str(_settings(tmp_path, site))
    for args in (("-v", "once"), ("once", "-v")):
        result = run_crawler("--settings", settings, *args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert " DEBUG " in result.stderr, args
    quiet = run_crawler("--settings", settings, "once", cwd=tmp_path)
    assert quiet.returncode == 0 and " DEBUG " not in quiet.stderr


def test_log_format_before_or_after_the_command(site: LocalSite, tmp_path: Path) -> None:
    for n, args in enumerate((("--log-format", "json", "once"), ("once", "--log-format", "json"))):
        settings = str(_settings(tmp_path / str(n), site))
        result = run_crawler("--settings", settings, *args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
        assert lines and all(json.loads(line)["message"] for line in lines), args
    # one before and one after: both count
    settings = str(_settings(tmp_path / "both", site))
    both = run_crawler("--settings", settings, "-v", "once", "--log-format", "json", cwd=tmp_path)
    assert any(json.loads(line)["level"] == "DEBUG" for line in both.stderr.splitlines()[:-1])


def test_options_after_an_action(tmp_path: Path) -> None:
    result = run_crawler("topics", "test", "iran", "-", "-v", "--log-format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # nothing to match on stdin
    assert "unrecognized arguments" not in result.stderr
    bad = run_crawler("once", "--log-format", "yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "invalid choice: 'yaml'" in bad.stderr


def test_check_warns_about_an_every_outside_the_schedule_bounds(tmp_path: Path) -> None:
    path = tmp_path / "crawler.toml"
    path.write_text(
        '[schedule]\nmin_every = "5m"\nmax_every = "2h"\n'
        '[[feeds]]\nurl = "https://example.org/fast.xml"\nevery = "30s"\n'
        '[[feeds]]\nurl = "https://example.org/ok.xml"\nevery = "10m"\n'
        '[[sitemaps]]\nurl = "https://example.org/sitemap.xml"\nevery = "1d"\n'
    )
    result = run_crawler("--settings", str(path), "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"crawler: warning: {path}: feeds[0].every: 30s is shorter than schedule.min_every (5m); "
        "https://example.org/fast.xml will be polled every 5m",
        f"crawler: warning: {path}: sitemaps[0].every: 1d is longer than schedule.max_every (2h); "
        "https://example.org/sitemap.xml will be polled every 2h",
    ]
    assert "settings:" in result.stdout and "(ok)" in result.stdout
