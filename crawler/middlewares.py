"""Scrapy downloader middlewares, and the guard on the addresses crawler connects to.

Every request, feed polls included, passes through these:

- `UrlGuardMiddleware` refuses any URL that is not http(s), and any host written as a local or
  non-public address unless the settings allow it (`fetch.allow_hosts`), before anything is sent.
- `AddressGuard` (a Scrapy extension) checks again when connecting: every address a host name
  resolves to, in any spelling (`2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`, a name whose
  DNS answer is private), must be public unless allowed. The check is on the very addresses the
  connection uses, so a DNS answer that changes between check and connect (rebinding) fails too.
- `ConditionalGetMiddleware` sends a feed's stored ETag / Last-Modified so an unchanged feed
  costs a 304 and no parsing.
- `RobotsPolicyMiddleware` is Scrapy's robots.txt middleware with RFC 9309's rules: a robots.txt
  that answers 4xx allows everything, one that is unreachable (5xx, timeout, refused) disallows
  everything for now; each host's rules are fetched again after a day (an hour after an error).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from OpenSSL import SSL
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DownloadFailedError, IgnoreRequest
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

log = logging.getLogger("crawler.guard")

ALLOWED_SCHEMES = frozenset({"http", "https"})
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def refusal(url: str, allow_hosts: frozenset[str]) -> str | None:
    """Why a URL must not be fetched, or None when it may be.

    `allow_hosts` holds "host" or "host:port" entries (lower case) that may be fetched even though
    they are loopback or private, e.g. a local test server or an intranet.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "malformed URL"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme or 'missing'!r} is not http(s)"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "no host"
    if host in allow_hosts or f"{host}:{port}" in allow_hosts:
        return None
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return f"host {host} is local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name; resolved addresses are checked when connecting
    if not address.is_global:
        return f"address {host} is not public"
    return None


def resolved_refusal(url: str, allow_hosts: frozenset[str]) -> str | None:
    """`refusal`, plus the addresses the host name resolves to now: for the command-line fetches
    (`sources discover`, `topics test URL`) that do not go through the crawl's resolver."""
    reason = refusal(url, allow_hosts)
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if reason is not None or host in allow_hosts or f"{host}:{parts.port}" in allow_hosts:
        return reason
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        address = getattr(address, "ipv4_mapped", None) or address
        if not address.is_global and str(address) not in allow_hosts:
            return f"{host} resolves to {address}, which is not public"
    return None


class RefusedRequest(IgnoreRequest):
    """A URL crawler never fetches (scheme or host); unlike a robots.txt refusal, final."""


class UrlGuardMiddleware:
    def __init__(self, allow_hosts: frozenset[str], stats: StatsCollector) -> None:
        self.allow_hosts = allow_hosts
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        hosts = frozenset(h.lower() for h in crawler.settings.getlist("CRAWLER_ALLOW_HOSTS"))
        assert crawler.stats is not None
        return cls(hosts, crawler.stats)

    def process_request(self, request: Request) -> None:
        reason = refusal(request.url, self.allow_hosts)
        if reason is not None:
            self.stats.inc_value("crawler/refused_urls")
            raise RefusedRequest(f"refused {request.url}: {reason}")


class ConditionalGetMiddleware:
    """Adds If-None-Match / If-Modified-Since from `request.meta["validators"]`."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def process_request(self, request: Request) -> None:
        etag, last_modified = request.meta.get("validators") or (None, None)
        if etag:
            request.headers.setdefault(b"If-None-Match", etag)
        if last_modified:
            request.headers.setdefault(b"If-Modified-Since", last_modified)


class AddressGuard:
    """Scrapy extension that installs a `GuardedResolver` on the reactor for this crawl."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        from twisted.internet import reactor

        hosts = frozenset(h.lower() for h in crawler.settings.getlist("CRAWLER_ALLOW_HOSTS"))
        original = getattr(reactor, "_crawler_original_resolver", reactor.nameResolver)
        reactor._crawler_original_resolver = original  # type: ignore[attr-defined]
        reactor.installNameResolver(GuardedResolver(original, hosts))  # type: ignore[attr-defined]
        return cls()


@implementer(IHostnameResolver)
class GuardedResolver:
    """A name resolver that passes on only public addresses (or allowed ones)."""

    def __init__(self, original: Any, allow_hosts: frozenset[str]) -> None:
        self.original = original
        self.allow_hosts = allow_hosts

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        host = hostName.lower().rstrip(".")
        trusted = host in self.allow_hosts or f"{host}:{portNumber}" in self.allow_hosts
        receiver = _PublicOnly(resolutionReceiver, host, portNumber, trusted, self.allow_hosts)
        return self.original.resolveHostName(
            receiver, hostName, portNumber, addressTypes, transportSemantics
        )


@implementer(IResolutionReceiver)
class _PublicOnly:
    def __init__(
        self,
        receiver: Any,
        host: str,
        port: int,
        trusted: bool,
        allow_hosts: frozenset[str],
    ) -> None:
        self.receiver = receiver
        self.host, self.port, self.trusted = host, port, trusted
        self.allow_hosts = allow_hosts

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        ip = ipaddress.ip_address(address.host.split("%")[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if (
            self.trusted
            or ip.is_global
            or f"{ip}:{self.port}" in self.allow_hosts
            or str(ip) in self.allow_hosts
        ):
            self.receiver.addressResolved(address)
        else:
            log.warning("refused address host=%s address=%s: not a public address", self.host, ip)

    def resolutionComplete(self) -> None:
        self.receiver.resolutionComplete()


def error_text(exc: BaseException) -> str:
    """One line saying what went wrong, with Twisted's wrapped failures unwrapped: a bad
    certificate reads "TLS: certificate verify failed", not a list of Failure objects."""
    if isinstance(exc, DownloadFailedError) and exc.__cause__ is not None:
        return error_text(exc.__cause__)  # Scrapy's wrapper of the downloader's own error
    reasons = getattr(exc, "reasons", None)  # ResponseNeverReceived, ResponseFailed
    if reasons:
        return "; ".join(dict.fromkeys(error_text(reason.value) for reason in reasons))
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        return "TLS: " + ", ".join(str(entry[-1]) for entry in exc.args[0] if entry)
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


class _DisallowAll:
    """The rules of a host whose robots.txt could not be read (RFC 9309, 2.3.1.4)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False

    def sitemaps(self) -> list[str]:
        return []


class RobotsPolicyMiddleware(RobotsTxtMiddleware):
    KEEP = 24 * 3600.0  # seconds a host's rules are used before they are fetched again
    KEEP_AFTER_ERROR = 3600.0

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._expires: dict[str, float] = {}

    async def robot_parser(self, request: Request) -> Any:
        netloc = urlsplit(request.url).netloc
        if self._expires.get(netloc, float("inf")) < time.monotonic():
            self._parsers.pop(netloc, None)  # stale: fetch the rules again
            self._expires.pop(netloc, None)
        return await super().robot_parser(request)

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if 500 <= response.status < 600:
            self._settle(netloc, _DisallowAll(f"HTTP {response.status}"), self.KEEP_AFTER_ERROR)
            self._stats.inc_value("robotstxt/unreachable")
            return
        if 400 <= response.status < 500:
            self._settle(netloc, None, self.KEEP)  # no rules: everything is allowed
            return
        await super()._parse_robots(response, netloc, request)
        self._expires[netloc] = time.monotonic() + self.KEEP

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        self._settle(netloc, _DisallowAll(error_text(exc)), self.KEEP_AFTER_ERROR)
        self._stats.inc_value("robotstxt/unreachable")

    def process_request_2(self, rp: Any, request: Request) -> None:
        if isinstance(rp, _DisallowAll):  # say why, not only "Forbidden by robots.txt"
            self._stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest(f"robots.txt unreachable, nothing fetched for now: {rp.reason}")
        super().process_request_2(rp, request)

    def _settle(self, netloc: str, parser: Any, keep: float) -> None:
        waiting = self._parsers[netloc]
        self._parsers[netloc] = parser
        self._expires[netloc] = time.monotonic() + keep
        if isinstance(waiting, Deferred):
            waiting.callback(parser)
