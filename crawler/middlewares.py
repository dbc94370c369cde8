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
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
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
            raise IgnoreRequest(f"refused {request.url}: {reason}")


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
