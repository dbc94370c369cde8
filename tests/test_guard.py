"""The address guard (crawler/guard.py): its rules as tables, and every command-line fetch held to
them through the CLI against local servers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.guard import refusal, resolved_refusal

from support.localsite import LocalSite
from support.pages import CASPIAN, ago, article_page, rss
from support.runner import base_settings, run_crawler
from support.tlscert import Certificate

SECRET = "Internal payroll figures nobody outside should read"

REFUSED_URLS = [
    ("ftp://example.org/feed", "scheme 'ftp' is not http(s)"),
    ("file:///etc/passwd", "scheme 'file' is not http(s)"),
    ("http:///path", "no host"),
    ("http://localhost/", "host localhost is local"),
    ("http://printer.localhost/", "host printer.localhost is local"),
    ("http://127.0.0.1/", "address 127.0.0.1 is not public"),
    ("http://10.1.2.3/", "address 10.1.2.3 is not public"),
    ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is not public"),
    ("http://[::1]:8080/", "address ::1 is not public"),
    ("http://[fd00::1]/", "address fd00::1 is not public"),
    ("http://[::ffff:127.0.0.1]/", "is not public"),  # IPv4-mapped
    ("http://[::127.0.0.1]/", "carries 127.0.0.1"),  # IPv4-compatible
    ("http://[::a9fe:a9fe]/", "carries 169.254.169.254"),
    ("http://[64:ff9b::a9fe:a9fe]/", "carries 169.254.169.254"),  # NAT64, the metadata address
    ("http://[64:ff9b::7f00:1]/", "carries 127.0.0.1"),
    ("http://[64:ff9b:1::a00:1]/", "carries 10.0.0.1"),  # local-use NAT64 (RFC 8215)
    ("http://[2002:7f00:1::]/", "carries 127.0.0.1"),  # 6to4
    ("http://[2002:a9fe:a9fe::1]/", "carries 169.254.169.254"),
    ("http://[2002:c0a8:101::]/", "carries 192.168.1.1"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "is not public"),  # Teredo
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_refused_urls(url: str, reason: str) -> None:
    assert reason in (refusal(url, []) or "(allowed)")


ALLOWED_URLS = [
    ("https://example.org/feed", []),
    ("http://8.8.8.8/", []),
    ("http://[2606:4700::1111]/", []),
    ("http://[64:ff9b::808:808]/", []),  # NAT64 of a public address
    ("http://[2002:808:808::]/", []),  # 6to4 of a public address
    ("http://[::ffff:8.8.8.8]/", []),
    ("http://localhost:8080/", ["localhost:8080"]),
    ("http://LOCALHOST./", ["localhost"]),
    ("http://127.0.0.1:5000/", ["127.0.0.1"]),
    ("http://[::1]:8080/", ["[::1]:8080"]),  # as users write it
    ("http://[::1]:8080/", ["[::1]"]),
    ("http://[::1]:8080/", ["::1"]),
    ("http://[0:0:0:0:0:0:0:1]:8080/", ["[::1]:8080"]),  # another spelling of the same address
    ("http://intranet.example/", ["Intranet.Example:80"]),  # the default port
]


@pytest.mark.parametrize(("url", "allow"), ALLOWED_URLS)
def test_allowed_urls(url: str, allow: list[str]) -> None:
    assert refusal(url, allow) is None


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://[::1]:9090/", ["[::1]:8080"]),  # another port
        ("http://localhost:9090/", ["localhost:8080"]),
        ("http://127.0.0.2/", ["127.0.0.1"]),
    ],
)
def test_an_allowed_entry_with_a_port_allows_that_port_only(url: str, allow: list[str]) -> None:
    assert refusal(url, allow) is not None


RESOLVED = [
    # host, port, addresses, allow_hosts, refused?
    ("example.org", 443, ["93.184.215.14"], [], False),
    ("example.org", 443, ["93.184.215.14", "10.0.0.5"], [], True),  # any private answer
    ("rebind.example", 80, ["127.0.0.1"], [], True),
    ("rebind.example", 80, ["::ffff:127.0.0.1"], [], True),
    ("meta.example", 80, ["64:ff9b::a9fe:a9fe"], [], True),
    ("six.example", 80, ["2002:a00:1::"], [], True),
    ("link.example", 80, ["fe80::1%eth0"], [], True),
    ("intranet.example", 80, ["10.0.0.5"], ["intranet.example"], False),
    ("intranet.example", 81, ["10.0.0.5"], ["intranet.example:80"], True),
    ("name.example", 8080, ["::1"], ["[::1]:8080"], False),  # an allowed address
    ("name.example", 8080, ["127.0.0.1"], ["127.0.0.1"], False),
]


@pytest.mark.parametrize(("host", "port", "addresses", "allow", "refused"), RESOLVED)
def test_resolved_addresses(
    host: str, port: int, addresses: list[str], allow: list[str], refused: bool
) -> None:
    reason = resolved_refusal(host, port, addresses, allow)
    assert (reason is not None) == refused, reason


# -- `crawler topics test QUERY URL` ---------------------------------------------------------------


def _settings(tmp_path: Path, allow: list[str]) -> Path:
    path = tmp_path / "crawler.toml"
    hosts = ", ".join(f'"{h}"' for h in allow)
    path.write_text(f'[output]\ndir = "{tmp_path / "out"}"\n[fetch]\nallow_hosts = [{hosts}]\n')
    return path


def _topics_test(tmp_path: Path, settings: Path | None, url: str) -> tuple[int, str, str]:
    args = ("--settings", str(settings)) if settings else ()
    result = run_crawler(*args, "topics", "test", "payroll OR caspian", url, cwd=tmp_path)
    return result.returncode, result.stdout, result.stderr


def test_topics_test_refuses_a_host_that_is_not_allowed(site: LocalSite, tmp_path: Path) -> None:
    site.route("/secret.html", article_page("Payroll", f"<p>{SECRET}.</p>" * 10))
    for settings in (None, _settings(tmp_path, [])):
        code, out, err = _topics_test(tmp_path, settings, site.url("/secret.html"))
        assert code == 1
        assert err.strip().splitlines() == [
            f"crawler: cannot fetch {site.url('/secret.html')}: refused: address 127.0.0.1 is "
            "not public"
        ]
        assert SECRET not in out + err and "payroll" not in (out + err).lower()
    assert site.hits("/secret.html") == 0


def test_topics_test_fetches_an_allowed_host(site: LocalSite, tmp_path: Path) -> None:
    site.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
    code, out, err = _topics_test(tmp_path, _settings(tmp_path, [site.host]), site.url("/a.html"))
    assert code == 0, err
    assert "matches" in out


def test_topics_test_rechecks_every_redirect(site: LocalSite, tmp_path: Path) -> None:
    with LocalSite("127.0.0.2") as inside:
        inside.route("/secret.html", article_page("Payroll", f"<p>{SECRET}.</p>" * 10))
        site.route("/away", "", status=302, headers={"Location": inside.url("/secret.html")})
        site.route("/ftp", "", status=301, headers={"Location": "ftp://127.0.0.1/secret.html"})
        settings = _settings(tmp_path, [site.host])
        code, out, err = _topics_test(tmp_path, settings, site.url("/away"))
        assert code == 1
        assert f"redirect to {inside.url('/secret.html')} refused" in err
        assert "address 127.0.0.2 is not public" in err
        assert SECRET not in out + err and inside.hits() == {}
        code, out, err = _topics_test(tmp_path, settings, site.url("/ftp"))
        assert code == 1 and "scheme 'ftp' is not http(s)" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_topics_test_keeps_to_the_size_limit(site: LocalSite, tmp_path: Path) -> None:
    site.route("/big.html", article_page("Caspian", CASPIAN * 20))
    settings = _settings(tmp_path, [site.host])
    settings.write_text(settings.read_text() + 'max_page_size = "2KB"\n')
    code, _, err = _topics_test(tmp_path, settings, site.url("/big.html"))
    assert code == 1 and "larger than 2000 bytes" in err


def test_topics_test_checks_certificates(certificate: Certificate, tmp_path: Path) -> None:
    with LocalSite(tls=certificate.server_context()) as secure:
        secure.route("/a.html", article_page("Ships cross the Caspian", CASPIAN))
        settings = _settings(tmp_path, [secure.host])
        url = secure.url("/a.html")
        args = ("--settings", str(settings), "topics", "test", "caspian", url)
        untrusted = run_crawler(*args, cwd=tmp_path)
        assert untrusted.returncode == 1
        assert "TLS: certificate verify failed" in untrusted.stderr, untrusted.stderr
        trusted = run_crawler(*args, cwd=tmp_path, env={"SSL_CERT_FILE": str(certificate.cert)})
        assert trusted.returncode == 0, trusted.stderr
        settings.write_text(settings.read_text() + "verify_certificates = false\n")
        unchecked = run_crawler(*args, cwd=tmp_path)
        assert unchecked.returncode == 0, unchecked.stderr


def test_topics_test_keeps_to_the_timeout(site: LocalSite, tmp_path: Path) -> None:
    site.hang("/slow.html")
    settings = _settings(tmp_path, [site.host])
    settings.write_text(settings.read_text() + 'timeout = "1s"\n')
    code, _, err = _topics_test(tmp_path, settings, site.url("/slow.html"))
    assert code == 1 and "timed out" in err and len(err.strip().splitlines()) == 1


def test_a_redirect_to_an_odd_path_is_one_line(site: LocalSite, tmp_path: Path) -> None:
    site.route("/odd", "", status=302, headers={"Location": "/caf\u00e9 page?q=a b"})
    code, _, err = _topics_test(tmp_path, _settings(tmp_path, [site.host]), site.url("/odd"))
    assert code == 1 and "HTTP 404" in err and "Traceback" not in err


def test_sources_discover_rechecks_redirects(site: LocalSite, tmp_path: Path) -> None:
    site.route("/", "", status=302, headers={"Location": "http://[64:ff9b::7f00:1]/"})
    settings = _settings(tmp_path, [site.host])
    result = run_crawler(
        "--settings", str(settings), "sources", "discover", site.url("/"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "carries 127.0.0.1, which is not public" in result.stderr
    assert "Traceback" not in result.stderr


# -- the crawl -------------------------------------------------------------------------------------


def test_the_crawl_refuses_addresses_that_carry_a_private_one(
    site: LocalSite, tmp_path: Path
) -> None:
    """Links spelled as IPv6 forms of a loopback address go nowhere; the good one is kept."""
    port = site.server.server_address[1]
    site.route("/good.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/x", article_page("Inside", f"<p>{SECRET}.</p>" * 10))
    links = [
        f"http://[::127.0.0.1]:{port}/x",
        f"http://[64:ff9b::7f00:1]:{port}/x",
        f"http://[2002:7f00:1::]:{port}/x",
        f"http://[::ffff:7f00:1]:{port}/x",
        site.url("/good.html"),
    ]
    entries = [
        {"title": f"e{n}", "link": link, "guid": str(n), "published": ago(1)}
        for n, link in enumerate(links)
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'{base_settings(tmp_path, site)}[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )
    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert site.hits("/x") == 0
    for link in links[:-1]:
        failed = [line for line in result.stderr.splitlines() if f"url={link} " in line]
        assert failed and "refused" in failed[0] and "not public" in failed[0], link
    new = tmp_path / "out" / "queue" / "new"
    titles = [json.loads(p.read_text("utf-8"))["title"] for p in new.glob("*.json")]
    assert titles == ["Ships cross the Caspian"]
