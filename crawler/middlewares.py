"""Scrapy downloader middlewares: every request, feed polls included, passes through these.

- `UrlGuardMiddleware` refuses any URL that is not http(s), and any host that is not a public
  address unless the settings allow it (`fetch.allow_hosts`), before anything is sent.
- `ConditionalGetMiddleware` sends a feed's stored ETag / Last-Modified so an unchanged feed
  costs a 304 and no parsing.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

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
