"""Chat alerts through Apprise and signed webhooks, against real HTTP receivers on loopback.

The outbox is a real SQLite state; the receivers are `support.localsite` servers that answer as
ntfy, Mattermost, Gotify, Apprise's json:// and form://, or a webhook would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from crawler.alerts.sender import RETRY_FIRST, Sender, alert_rows
from crawler.alerts.services import APPRISE_ATTEMPTS
from crawler.config import Settings, settings_from_dict
from crawler.errors import SettingsError
from crawler.state import ItemRecord, State

from support.localsite import LocalSite, Route
from support.runner import run_crawler

T0 = 1_800_000_000.0
SECRET = "s3cret-for-tests"
HOSTILE = "@channel <!everyone> **bold** [link](http://evil) @here"
ARTICLE = "https://courier.example/news/1"
COPY = "https://wire.example/copy-1"


def _config(tmp_path: Path, *to: str, **alert: object) -> Settings:
    return settings_from_dict(
        {
            "output": {"dir": str(tmp_path / "out")},
            "topics": [{"name": "caspian", "query": "Caspian", "alert": {"to": list(to), **alert}}],
            "mail": {"timeout": "3s"},
        }
    )


def _item(n: int, title: str = "Ships cross the Caspian") -> dict[str, object]:
    snippet = f"Freighters @everyone crossed the Caspian Sea, story {n}"
    start = snippet.index("Caspian")
    return {
        "schema": 1,
        "id": f"01JITEM{n:019d}",
        "url": ARTICLE.replace("1", str(n)),
        "canonical_url": None,
        "title": title,
        "published": "2026-11-25T09:00:00+00:00",
        "source": {"kind": "feed", "url": "https://courier.example/rss", "name": "Courier"},
        "text": f"{title}. {snippet}",
        "topics": [
            {
                "name": "caspian",
                "terms": ["caspian"],
                "snippet": snippet,
                "highlights": [[start, start + 7]],
            }
        ],
        "content_hash": f"h{n}",
    }


def _queue(state: State, config: Settings, item: dict[str, object]) -> None:
    """Record an item as the queue pipeline does: its outbox rows in the same commit."""
    alerts = {t.name: t.alert for t in config.topics if t.alert is not None}
    state.record_article(
        urls=[str(item["url"])],
        outcome="queued",
        content_hash=str(item["content_hash"]),
        item=ItemRecord(
            str(item["id"]),
            str(item["url"]),
            None,
            str(item["title"]),
            "Courier",
            None,
            None,
            str(item["content_hash"]),
        ),
        alerts=alert_rows(item, alerts),  # type: ignore[arg-type]
        now=T0,
    )


def _send(config: Settings, state: State, now: float) -> int:
    return asyncio.run(Sender(config, state).send_due(now))


def _verify(headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (the README's recipe)."""
    timestamp = headers["X-Crawler-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers["X-Crawler-Signature"], "sha256=" + expected.hexdigest())


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLER_WEBHOOK_SECRET", SECRET)


def test_a_webhook_gets_the_items_signed_and_a_500_is_retried_once(
    site: LocalSite, tmp_path: Path, secret: None
) -> None:
    hook = "webhook+" + site.answer("/hook", [Route(b"down", status=500)])
    config = _config(tmp_path, hook)
    with State(tmp_path / "state.db") as state:
        items = [_item(1), _item(2, "Insurers leave the Caspian")]
        for item in items:
            _queue(state, config, item)
        assert _send(config, state, T0) == 0
        assert state.outbox_counts() == {"pending": 2, "sent": 0, "failed": 0}
        assert _send(config, state, T0 + RETRY_FIRST - 1) == 0  # backing off
        assert _send(config, state, T0 + RETRY_FIRST) == 1
        assert _send(config, state, T0 + 10 * RETRY_FIRST) == 0
        assert state.outbox_counts() == {"pending": 0, "sent": 2, "failed": 0}
    posts = site.posts("/hook")
    assert len(posts) == 2  # the 500, then the delivery: one message
    keys = {headers["Idempotency-Key"] for _, headers, _ in posts}
    assert len(keys) == 1  # the retry carries the same key
    for _, headers, body in posts:
        assert headers["Content-Type"] == "application/json"
        assert _verify(headers, body)
        document = json.loads(body)
        assert document["idempotency_key"] in keys
        assert document["type"] == "crawler.alert"
        assert document["topic"] == "caspian" and document["mode"] == "immediate"
        assert document["items"] == items  # exactly as queued
    tampered = dict(posts[1][1], **{"X-Crawler-Timestamp": "1"})
    assert not _verify(tampered, posts[1][2])


def test_a_429_retry_after_is_honoured(site: LocalSite, tmp_path: Path, secret: None) -> None:
    busy = Route(b"slow down", status=429, headers={"Retry-After": "7"})
    hook = "webhook+" + site.answer("/hook", [busy])
    config = _config(tmp_path, hook)
    with State(tmp_path / "state.db") as state:
        _queue(state, config, _item(1))
        assert _send(config, state, T0) == 0
        assert _send(config, state, T0 + 6) == 0
        assert len(site.posts("/hook")) == 1  # not before the server said
        assert _send(config, state, T0 + 7) == 1
    assert len(site.posts("/hook")) == 2


def test_a_400_is_failed_and_shown_by_status_redacted(
    site: LocalSite, tmp_path: Path, secret: None
) -> None:
    site.route("/in/t0ken", "bad payload", "text/plain", status=400)
    hook = f"webhook+{site.url('/in/t0ken')}"
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'[output]\ndir = "{tmp_path / "out"}"\n[[topics]]\nname = "caspian"\nquery = "Caspian"\n'
        f'alert = {{ to = ["{hook}"] }}\n'
    )
    from crawler.config import load_settings

    config = load_settings(settings)
    with State(config.output.state_path) as state:
        _queue(state, config, _item(1))
        assert _send(config, state, T0) == 0
        assert _send(config, state, T0 + 10 * RETRY_FIRST) == 0  # never retried
        assert state.outbox_counts() == {"pending": 0, "sent": 0, "failed": 1}
    assert len(site.posts("/in/t0ken")) == 1
    status = run_crawler("--settings", str(settings), "status", cwd=tmp_path)
    assert "1 failed" in status.stdout
    assert f"failed alert caspian to webhook+http://{site.host}/…: " in status.stdout
    assert "400" in status.stdout and "t0ken" not in status.stdout


def _apprise_targets(site: LocalSite) -> dict[str, str]:
    return {
        "ntfy": f"ntfy://{site.host}/desk",
        "mattermost": f"mmost://{site.host}/m0sttoken",
        "gotify": f"gotify://{site.host}/g0tifytoken",
        "json": f"json://{site.host}/json-in",
        "form": f"form://{site.host}/form-in",
    }


def _received(site: LocalSite) -> dict[str, str]:
    """What each service received as the message's text."""
    found: dict[str, str] = {}
    for path, headers, body in site.posts():
        if path == "/":  # ntfy publishes JSON to the server's root, the topic inside
            data = json.loads(body)
            assert data["topic"] == "desk"
            found["ntfy"] = f"{data['title']}\n{data['message']}"
        elif path == "/hooks/m0sttoken":
            found["mattermost"] = json.loads(body)["text"]
        elif path.startswith("/message"):
            assert "g0tifytoken" in path or headers.get("X-Gotify-Key") == "g0tifytoken"
            data = json.loads(body)
            found["gotify"] = f"{data['title']}\n{data['message']}"
        elif path == "/json-in":
            data = json.loads(body)
            found["json"] = f"{data['title']}\n{data['message']}"
        elif path == "/form-in":
            assert headers["Content-Type"] == "application/x-www-form-urlencoded"
            data = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            found["form"] = f"{data['title']}\n{data['message']}"
    return found


def test_apprise_services_get_a_readable_message_and_nothing_injected(
    site: LocalSite, tmp_path: Path
) -> None:
    targets = _apprise_targets(site)
    config = _config(tmp_path, *targets.values())
    with State(tmp_path / "state.db") as state:
        item = _item(1, title=HOSTILE)
        _queue(state, config, item)
        state.record_also_reported(str(item["id"]), COPY, "Wire @all")
        assert _send(config, state, T0) == len(targets)
        assert state.outbox_counts()["sent"] == len(targets)
    received = _received(site)
    assert set(received) == set(targets)
    for service, text in received.items():
        # no mention, no link or markup from the article's own text
        for mention in ("@channel", "@everyone", "@here", "@all", "<!everyone>"):
            assert mention not in text, (service, text)
        assert "](http://evil)" not in text and "http://evil" not in text
        assert "Courier" in text and "25 Nov 2026, 09:00 UTC" in text
        assert "Also reported by" in text and COPY in text
        assert ARTICLE in text
    markdown = received["mattermost"]  # read as Markdown: escaped, and the term emphasised
    assert "\\*\\*bold\\*\\*" in markdown and "\\[link\\]" in markdown
    assert f"]({ARTICLE})" in markdown and "**Caspian**" in markdown
    plain = received["ntfy"]  # plain text: as written, the term marked with asterisks
    assert "**bold** [link](http:\u2060//evil)" in plain
    assert "*Caspian*" in plain and f"\n{ARTICLE}\n" in plain


def test_a_digest_is_one_chat_message_with_a_count_of_the_rest(
    site: LocalSite, tmp_path: Path
) -> None:
    config = _config(tmp_path, f"json://{site.host}/json-in", max_items=2)
    with State(tmp_path / "state.db") as state:
        for n in range(1, 6):
            _queue(state, config, _item(n, f"Story {n} from the Caspian"))
        assert _send(config, state, T0) == 1
        assert state.outbox_counts() == {"pending": 0, "sent": 5, "failed": 0}
    (message,) = [json.loads(body) for _, _, body in site.posts("/json-in")]
    assert message["title"] == "caspian: 5 new articles"
    assert "Story 1 " in message["message"] and "Story 2 " in message["message"]
    assert "Story 3 " not in message["message"]
    assert message["message"].endswith("… and 3 more matching articles.")


def test_an_apprise_failure_is_retried_a_bounded_number_of_times(
    site: LocalSite, tmp_path: Path
) -> None:
    site.route("/json-in", "no", "text/plain", status=500)
    config = _config(tmp_path, f"json://{site.host}/json-in")
    with State(tmp_path / "state.db") as state:
        _queue(state, config, _item(1))
        now = T0
        for _ in range(APPRISE_ATTEMPTS):
            assert _send(config, state, now) == 0
            now += 10 * 3600
        assert state.outbox_counts() == {"pending": 0, "sent": 0, "failed": 1}
        (row,) = state.failed_alerts()
        assert "500" in (row.last_error or "") and "gave up after" in (row.last_error or "")
    assert len(site.posts("/json-in")) == APPRISE_ATTEMPTS


def test_alerts_test_answers_for_every_recipient(site: LocalSite, tmp_path: Path) -> None:
    site.route("/bad", "nope", "text/plain", status=403)
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'[output]\ndir = "{tmp_path / "out"}"\n[[topics]]\nname = "caspian"\nquery = "Caspian"\n'
        f'alert = {{ to = ["desk@example.org", "${{CRAWLER_NTFY_URL}}", '
        f'"webhook+http://{site.host}/hook/s3cret", "webhook+http://{site.host}/bad"] }}\n'
    )
    env = {"CRAWLER_NTFY_URL": f"ntfy://{site.host}/secret-topic"}
    result = run_crawler(
        "--settings", str(settings), "alerts", "test", "caspian", cwd=tmp_path, env=env
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 4
    assert lines[0].startswith("test alert for caspian to desk@example.org: ok: written to ")
    assert lines[1] == (
        f"test alert for caspian to ${{CRAWLER_NTFY_URL}} (ntfy://{site.host}/…): ok: "
        f"accepted by ntfy://{site.host}/…"
    )
    assert lines[2] == (
        f"test alert for caspian to webhook+http://{site.host}/…: ok: "
        f"webhook+http://{site.host}/… answered 200"
    )
    assert lines[3].startswith(f"test alert for caspian to webhook+http://{site.host}/…: FAILED: ")
    assert "403" in lines[3]
    assert "secret" not in result.stdout + result.stderr
    ((_, _, body),) = site.posts("/hook/s3cret")
    assert json.loads(body)["items"][0]["title"] == "Test alert for caspian: crawler can reach you"


@pytest.mark.parametrize(
    ("recipient", "env", "message"),
    [
        ("${CRAWLER_SLACK_URL}", {}, "environment variable CRAWLER_SLACK_URL is not set"),
        ("nosuch://host/x", {}, "nosuch://… is not a URL Apprise understands"),
        ("${CRAWLER_SLACK_URL}", {"CRAWLER_SLACK_URL": "slack://bad"}, "slack://… is not a URL"),
        ("not an address", {}, "'not an address' is not an email address"),
    ],
)
def test_bad_recipients_are_settings_errors_naming_the_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recipient: str,
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CRAWLER_SLACK_URL", raising=False) if not env else None
    with pytest.raises(SettingsError) as error:
        settings_from_dict(
            {
                "topics": [
                    {"name": "t", "query": "x", "alert": {"to": ["a@example.org", recipient]}}
                ]
            },
            "settings/crawler.toml",
        )
    assert str(error.value).startswith(f"settings/crawler.toml: topics[0].alert.to[1]: {message}")


def test_check_shows_recipients_redacted(tmp_path: Path) -> None:
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general"
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        '[[topics]]\nname = "t"\nquery = "x"\n'
        'alert = { to = ["${CRAWLER_SLACK_URL}", "ntfy://ntfy.example.org/s3cret", "webhook+https://h.example/x"] }\n'
    )
    result = run_crawler(
        "--settings", str(settings), "check", cwd=tmp_path, env={"CRAWLER_SLACK_URL": slack}
    )
    assert result.returncode == 0, result.stderr
    assert (
        "${CRAWLER_SLACK_URL} (slack://…), ntfy://ntfy.example.org/…, webhook+https://h.example/…"
        in result.stdout
    )
    assert "webhook alerts are sent unsigned: CRAWLER_WEBHOOK_SECRET is not set" in result.stdout
    assert "TIiajk" not in result.stdout and "s3cret" not in result.stdout


def test_a_long_message_is_shortened_by_its_snippets_never_by_cutting_markup() -> None:
    from crawler.alerts.chat import chat_message
    from crawler.alerts.message import AlertItem, sample_highlights

    words = " ".join(f"word{n} **Caspian** [x](http://evil)" for n in range(200))
    items = [
        AlertItem(
            item_id=str(n),
            title=f"Story {n} on the Caspian",
            url=f"https://courier.example/{n}",
            source_name="Courier",
            published=None,
            snippet=words,
            highlights=sample_highlights(words, "caspian"),
        )
        for n in range(12)
    ]
    for limit in (2000, 4000, 900):
        _, body = chat_message("caspian", items, markdown=True, limit=limit, max_items=10)
        assert len(body) <= limit
        unescaped = body.replace("\\*", "")
        assert unescaped.count("**") % 2 == 0  # every emphasis closed
        assert body.count("](https://courier.example/") == body.count("**[Story")
        assert "more matching articles." in body.splitlines()[-1]
        assert "\\*\\***Caspian**\\*\\*" in body  # the article's stars, the match in bold


@pytest.mark.parametrize(
    ("recipient", "shown"),
    [
        ("desk@example.org", "desk@example.org"),
        ("${CRAWLER_SLACK_URL}", "${CRAWLER_SLACK_URL}"),
        ("tgram://123456789:AAbbCCdd/-100123", "tgram://…"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", "slack://…"),
        ("ntfys://user:pass@ntfy.example.org/desk", "ntfys://ntfy.example.org/…"),
        ("matrixs://bot:pw@matrix.example.org:8448/#room", "matrixs://matrix.example.org:8448/…"),
        ("webhook+https://hooks.example.org", "webhook+https://hooks.example.org"),
        ("webhook+http://127.0.0.1:8080/in?key=abc", "webhook+http://127.0.0.1:8080/…"),
    ],
)
def test_redact_keeps_only_the_scheme_and_a_real_host(recipient: str, shown: str) -> None:
    from crawler.alerts.recipients import redact, scrub

    assert redact(recipient) == shown
    answer = f"Failed to send notification to {recipient.split('://')[-1]}: error=404."
    for part in ("AAbbCCdd", "TIiajkdnlazkcOXrIdevi7FQ", "pass", "desk", "abc"):
        if part in recipient and "://" in recipient:
            assert part not in scrub(answer, recipient)
