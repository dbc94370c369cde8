"""Settings: what a good file gives, and one clear message naming the file and key for a bad one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crawler.cli import main
from crawler.config import load_settings, parse_duration, parse_size
from crawler.errors import SettingsError

GOOD = """
[output]
dir = "out"

[fetch]
allow_hosts = ["127.0.0.1:8080"]
max_age = "36h"

[[feeds]]
url = "https://example.org/rss.xml"
every = "10m"

[[sites]]
start = "https://example.org/world/"
allow = ["/world/\\\\d{4}/"]

[[topics]]
name = "arms"
query = '(Iran OR Tehran) AND "artillery shells"'
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crawler.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, GOOD))
    assert settings.fetch.max_age == timedelta(hours=36)
    assert settings.feeds[0].every == timedelta(minutes=10)
    assert settings.sites[0].start == ["https://example.org/world/"]
    assert settings.sites[0].allow == [r"/world/\d{4}/"]
    assert settings.output.queue_dir == Path("out/queue")


def test_the_shipped_settings_file_is_valid() -> None:
    load_settings(Path(__file__).parent.parent / "settings" / "crawler.toml")


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            ('url = "https://example.org/rss.xml"', 'url = "ftp://example.org/rss.xml"'),
            "feeds[0].url",
            "not an http(s) URL",
        ),
        (('every = "10m"', 'every = "often"'), "feeds[0].every", "not a duration"),
        (('max_age = "36h"', "max_age = true"), "fetch.max_age", "duration"),
        (("[output]", "[output]\nfolder = 'x'"), "output.folder", "unknown key"),
        (('name = "arms"', 'nme = "arms"'), "topics[0]", ""),
        (("(Iran OR Tehran)", "(Iran OR Tehran"), "topics[0].query", ""),
        (('allow = ["/world/', 'allow = ["/world/(('), "sites[0].allow", "regular expression"),
        (("[[topics]]", "[[topic]]"), "topic", "unknown key"),
    ],
)
def test_bad_values_are_named_by_key(
    tmp_path: Path, change: tuple[str, str], key: str, words: str
) -> None:
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}"), message
    assert words in message


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "\n[fetch\n")
    with pytest.raises(SettingsError, match=f"{path}: not valid TOML.*line"):
        load_settings(path)


def test_duplicate_topic_names(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + '\n[[topics]]\nname = "arms"\nquery = "x"\n')
    with pytest.raises(SettingsError, match=r"topics\[1\]\.name: .*twice"):
        load_settings(path)


def test_check_prints_what_it_understood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--settings", str(_write(tmp_path, GOOD)), "check"]) == 0
    out = capsys.readouterr().out
    assert "https://example.org/rss.xml" in out and "every 10m" in out
    assert "arms: (Iran OR Tehran)" in out and "allow /world/" in out


def test_check_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD.replace('every = "10m"', 'every = "soon"'))
    assert main(["--settings", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: feeds[0].every" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--settings", str(tmp_path / "nope.toml"), "check"]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800), (45, 45), ("1w", 604800)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "size"), [("10MB", 10_000_000), ("512KiB", 524288), (100, 100)])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_the_readme_settings_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    settings = load_settings(_write(tmp_path, block))
    assert settings.topics[0].alert is not None and settings.mail.transport == "file"
