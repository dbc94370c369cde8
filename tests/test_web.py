"""`crawler serve` on the demo's data: `crawler demo --serve` runs the demo site and the app as a
real process; pages, feeds, API and metrics are read over HTTP, and in Debian's chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import pytest
from ulid import ULID

from crawler.state import ItemRecord, State

from support.runner import run_crawler

HOSTILE_TITLE = "<script>alert('owned')</script> Caspian drones in the headline"
HOSTILE_URL = "javascript:alert(document.cookie)"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("WEB_SCREENSHOTS")  # a folder: save the README's screenshots there


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The demo's data and web app (`crawler demo --serve`), plus one hostile item."""
    cwd = tmp_path_factory.mktemp("web")
    errors = (cwd / "stderr.txt").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "demo", "--serve", "--port", "0"],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    url = None
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"Browse it: (http://127\.0\.0\.1:\d+/)", line)
        if found:
            url = found.group(1)
            break
    assert url, (cwd / "stderr.txt").read_text()
    yield {"url": url, "cwd": cwd, "process": process}
    process.send_signal(signal.SIGINT)
    code = process.wait(20)
    process.stdout.close()
    errors.close()
    assert code == 0, (cwd / "stderr.txt").read_text()


@pytest.fixture(scope="module")
def hostile(app) -> str:
    """An item with a script for a title and javascript: URLs, in the app's state; its id."""
    cwd = app["cwd"]
    state_path = cwd / "output" / "demo" / "state.db"
    item_id = str(ULID())
    with State(state_path) as state:
        record = {
            "url": HOSTILE_URL,
            "title": HOSTILE_TITLE,
            "text": "Caspian drones <img src=x onerror=alert(1)>",
            "source": {"name": "<b>Evil Outlet</b>"},
        }
        state.archive_article(record, now=time.time() - 86400)
        state.record_article(
            urls=[HOSTILE_URL],
            outcome="queued",
            now=time.time() - 86400,
            item=ItemRecord(
                item_id,
                HOSTILE_URL,
                None,
                HOSTILE_TITLE,
                "<b>Evil Outlet</b>",
                HOSTILE_URL,
                None,
                None,
                ("caspian-arms",),
            ),
        )
        state.record_also_reported(item_id, "javascript:alert(2)", "<i>copycat</i>")
    return item_id


@contextmanager
def served(settings: Path, cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`crawler serve` on a free port, as a process of its own; its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "--settings", str(settings), "serve", "--port", "0"],
        cwd=cwd,
        env=_env() | (env or {}),
        stdout=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        yield process.stdout.readline().split()[-1]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
        process.stdout.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


PAGES = [
    "",
    "items",
    "sources",
    "topics",
    "topics/test?q=caspian+drone*",
    "items?q=caspian",
    "items?topic=caspian-arms",
    "api/status",
    "api/items",
    "api/topics",
    "api/sources",
    "metrics",
    "healthz",
    "items.atom",
    "topics/caspian-arms.atom",
]


def test_pages_at_phone_and_desktop_widths(app, browser) -> None:
    """Every page fits the width of a phone; WEB_SCREENSHOTS=docs saves the README's pictures
    (before the hostile item is added)."""
    base = app["url"].rstrip("/")
    for width in (1280, 375):
        page = browser.new_page(viewport={"width": width, "height": 900 if width > 400 else 800})
        problems = _watch(page)
        item = None
        for path in ("/", "/items", "/sources", "/topics", "/topics/test?q=caspian+drone*"):
            assert page.goto(base + path).status == 200
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is wider than {width} px"
            if path == "/items":
                item = page.locator("ol.list a.title").first.get_attribute("href")
            names = {"/": "overview", "/items": "items", "/topics/test?q=caspian+drone*": "tester"}
            if SCREENSHOTS and path in names:
                page.screenshot(path=f"{SCREENSHOTS}/web-{names[path]}-{width}.png")
        assert item is not None
        page.goto(base + item)
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/web-item-{width}.png")
        assert not problems, problems
        page.close()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_a_strict_policy(app, path) -> None:
    status, headers, body = _get(app["url"] + path)
    assert status == 200, body[:300]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_filters_by_day_and_refuses_a_bad_one(app) -> None:
    from datetime import UTC, datetime

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    items = json.loads(_get(app["url"] + f"api/items?date={today}")[2])["items"]
    assert len(items) >= 6
    assert json.loads(_get(app["url"] + "api/items?date=2001-01-01")[2])["items"] == []
    status, _, body = _get(app["url"] + "items?date=yesterday")
    assert status == 400 and b"not a date" in body
    assert _get(app["url"] + "items/no-such-item")[0] == 404


def test_plain_demo_says_how_to_browse(tmp_path) -> None:
    result = run_crawler("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "crawler demo --serve" in result.stdout.splitlines()[-1]


def test_read_only_refuses_other_methods(app) -> None:
    request = urllib.request.Request(app["url"] + "items", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    caught.value.close()
    assert caught.value.code == 405


def test_a_topic_feed_is_valid_atom_with_the_clean_text_and_conditional_get(app, hostile) -> None:
    _, headers, body = _get(app["url"] + "topics/caspian-arms.atom")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    titles = [entry.title for entry in feed.entries]
    assert any("Caspian" in t for t in titles)
    assert HOSTILE_TITLE in titles  # as text, escaped in the XML
    demo_entry = next(e for e in feed.entries if e.link.startswith("http://127.0.0.1"))
    assert len(demo_entry.content[0].value) > 200 and "innerHTML" not in demo_entry.content[0].value
    assert not any(
        link.href.startswith("javascript") for e in feed.entries for link in e.get("links", [])
    )
    again = _get(app["url"] + "topics/caspian-arms.atom", {"If-None-Match": headers["etag"]})
    assert again[0] == 304 and again[2] == b""
    since = _get(
        app["url"] + "topics/caspian-arms.atom", {"If-Modified-Since": headers["last-modified"]}
    )
    assert since[0] == 304
    assert _get(app["url"] + "topics/no-such-topic.atom")[0] == 404


def test_search_and_api_show_what_the_pages_show(app) -> None:
    _, _, body = _get(app["url"] + "api/items?q=caspian")
    results = json.loads(body)["results"]
    assert results and all(
        "caspian" in (r["title"] + r["snippet"] + r["source"]).lower() for r in results
    )
    report = json.loads(_get(app["url"] + "api/status")[2])
    assert set(report) >= {"daemon", "queue", "outbox", "sources"}
    assert report["queue"]["new"] >= 6
    status, _, body = _get(app["url"] + "api/items?q=%22unbalanced")
    assert status == 200  # words are quoted for FTS5: no syntax error reaches the user


def test_metrics_export_the_crawl_counters(app) -> None:
    text = _get(app["url"] + "metrics")[2].decode()
    assert 'crawler_polls_total{outcome="ok"}' in text
    assert re.search(r"^crawler_extract_seconds_count [1-9]", text, re.M), text
    assert 'crawler_alert_deliveries{outcome="sent"}' in text
    assert re.search(r"^crawler_queue_depth [1-9]", text, re.M)


def test_a_hostile_item_is_shown_as_text(app, hostile) -> None:
    body = _get(app["url"] + f"items/{hostile}")[2].decode()
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    assert 'href="javascript:' not in body
    assert "<b>Evil" not in body and "<img src=x" not in body


def test_a_public_bind_without_a_token_is_refused(tmp_path) -> None:
    settings = tmp_path / "crawler.toml"
    settings.write_text(f'[output]\ndir = "{tmp_path / "out"}"\n[web]\nhost = "0.0.0.0"\n')
    result = run_crawler("--settings", str(settings), "serve", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "web.token" in result.stderr


def test_a_token_is_needed_when_set(tmp_path) -> None:
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'[output]\ndir = "{tmp_path / "out"}"\n[[feeds]]\nurl = "http://127.0.0.1:9/never-polled.xml"\n'
    )
    token = "s3cret-token-for-the-test"
    with served(settings, tmp_path, {"CRAWLER_WEB_TOKEN": token}) as url:
        assert _get(url + "items")[0] == 401
        assert _get(url + "healthz")[0] == 200
        bearer = {"Authorization": f"Bearer {token}"}
        for path in (
            "",
            "items",
            "sources",
            "topics",
            "metrics",
            "items.atom",
        ):  # nothing polled yet
            assert _get(url + path, bearer)[0] == 200, path
        assert _get(url + "items", {"Authorization": "Bearer wrong"})[0] == 401

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(url + f"items?topic=x&token={token}", timeout=10)
        caught.value.close()
        assert caught.value.code == 303
        assert caught.value.headers["location"] == "/items?topic=x"
        cookie = caught.value.headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in caught.value.headers["set-cookie"]
        assert _get(url + "items", {"Cookie": cookie})[0] == 200


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def _watch(page) -> list[str]:
    """Console errors and warnings, script errors and dialogs of `page`, as they come."""
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: problems.append(f"dialog {d.message}"))
    return problems


def test_in_a_browser(app, browser, hostile) -> None:
    base = app["url"].rstrip("/")
    for width, height in ((1280, 900), (375, 800)):
        page = browser.new_page(viewport={"width": width, "height": height})
        problems = _watch(page)
        for path in ("/", "/items", "/sources", "/topics", "/topics/test"):
            assert page.goto(base + path).status == 200
        # follow an item from the list to its page
        page.goto(base + "/items?topic=caspian-arms")
        page.locator("ol.list a.title", has_text="Caspian").first.click()
        page.wait_for_load_state()
        assert re.search(r"/items/\w+$", page.url)
        assert page.locator("section.matches mark").count() > 0
        assert page.locator("section.text p").count() > 1
        # the topic tester
        page.goto(base + "/topics/test")
        page.fill("input[name=q]", "caspian AND drone*")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "caught" in page.locator("#verdict").inner_text()
        assert page.locator("ol.list li").count() >= 1
        assert page.locator(".terms-table td mark", has_text="drone*").count() == 1
        caught = page.locator("ol.list li").count()
        page.check("input[name=every]")  # without the index: the same catch
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "every=1" in page.url and page.locator("ol.list li").count() == caught
        page.fill("input[name=q]", '"unbalanced')
        page.click("button[type=submit]")
        assert "Bad query" in page.locator("#query-error").inner_text()
        # a hostile item shows as text; no script ran, no javascript: link
        page.goto(base + f"/items/{hostile}")
        assert HOSTILE_TITLE in page.locator("h1").inner_text()
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator("script, img").count() == 0
        # subscribe to the topic's feed, as a reader would
        page.goto(base + "/topics")
        href = page.locator("a", has_text="Atom feed").first.get_attribute("href")
        feed = feedparser.parse(_get(base + href)[2])
        assert not feed.bozo and feed.entries
        assert not problems, problems
        page.close()


def test_on_a_cluster_the_pages_show_the_shared_state(tmp_path, site, redis_url) -> None:
    """Two `crawler once` workers on one Redis; the app shows the workers and the outbox from
    Redis, and the items of the worker named in its settings."""
    from support.pages import ago, article_page, rss

    words = [
        "Caspian",
        "drones",
        "were",
        "shipped",
        "across",
        "the",
        "sea",
        "to",
        "the",
        "northern",
        "ports",
    ]
    body = [" ".join(words * 3) + "." for _ in range(4)]
    site.route("/a.html", article_page("Caspian drones shipped", body))
    feed = rss(
        "Wire",
        [{"title": "Caspian drones shipped", "link": site.url("/a.html"), "published": ago(1)}],
    )
    site.route("/rss.xml", feed, "application/rss+xml")
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'[output]\ndir = "{tmp_path / "out"}"\n'
        f'[fetch]\nallow_hosts = ["{site.host}"]\ndelay = "0s"\nworkers = 1\n'
        f'[cluster]\nredis = "{redis_url}"\nworker = "w1"\n'
        f'[[feeds]]\nurl = "{site.url("/rss.xml")}"\n'
        '[[topics]]\nname = "caspian"\nquery = "caspian AND drone*"\n'
        'alert = { to = ["desk@example.org"] }\n'
    )
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with served(settings, tmp_path) as url:
        report = json.loads(_get(url + "api/status")[2])
        assert "cluster" in report and report["outbox"]["pending"] + report["outbox"]["sent"] == 1
        items = json.loads(_get(url + "api/items?topic=caspian")[2])["items"]
        assert [i["title"] for i in items] == ["Caspian drones shipped"]
        for path in ("", "items", "sources", "topics", "metrics", "topics/caspian.atom"):
            assert _get(url + path)[0] == 200, path
        assert "Caspian drones shipped" in _get(url + "items")[2].decode()
