"""TLS when fetching: certificates and host names are checked, unless a user turns it off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.localsite import LocalSite
from support.pages import CASPIAN, ago, article_page, rss
from support.runner import base_settings, run_crawler
from support.tlscert import Certificate


@pytest.fixture
def secure_site(certificate: Certificate) -> Iterator[LocalSite]:
    with LocalSite(tls=certificate.server_context()) as site:
        site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
        entry = {"title": "a", "link": site.url("/a.html"), "guid": "1", "published": ago(1)}
        site.route("/feed.xml", rss("Feed", [entry]), "application/rss+xml")
        yield site


def _run(tmp_path: Path, site: LocalSite, extra: str = "", **env: str) -> tuple[str, list[str]]:
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site) + extra + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    new = tmp_path / "out" / "queue" / "new"
    return result.stderr, [json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json")]


def test_an_untrusted_certificate_is_refused(secure_site: LocalSite, tmp_path: Path) -> None:
    log, titles = _run(tmp_path, secure_site)
    assert titles == []
    assert secure_site.hits("/a.html") == 0
    (line,) = [line for line in log.splitlines() if "source failed" in line]
    assert secure_site.url("/feed.xml") in line and "certificate verify failed" in line
    assert "Traceback" not in log


def test_a_trusted_certificate_is_accepted(
    secure_site: LocalSite, tmp_path: Path, certificate: Certificate
) -> None:
    _, titles = _run(tmp_path, secure_site, SSL_CERT_FILE=str(certificate.cert))
    assert titles == ["Ships cross the Caspian"]


def test_checking_can_be_turned_off_for_a_self_signed_site(
    secure_site: LocalSite, tmp_path: Path
) -> None:
    _, titles = _run(tmp_path, secure_site, extra="verify_certificates = false\n")
    assert titles == ["Ships cross the Caspian"]
