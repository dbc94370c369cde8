"""Scrapy downloader middlewares, and the address guard's place in the crawl.

Every request, feed polls included, passes through these (the rules are `crawler.guard`'s):

- `UrlGuardMiddleware` refuses any URL that `guard.refusal` refuses (not http(s), a local name,
  a literal address that is not public or carries one) before anything is sent.
- `AddressGuard` (a Scrapy extension) checks again when connecting: every address a host name
  resolves to, in any spelling (`2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`, a name whose
  DNS answer is private), passes `guard.resolved_refusal` or is dropped. The check is on the very
  addresses the connection uses, so a DNS answer that changes between check and connect
  (rebinding) fails too.
- `ConditionalGetMiddleware` sends a feed's stored ETag / Last-Modified so an unchanged feed
  costs a 304 and no parsing.
- `RobotsPolicyMiddleware` is Scrapy's robots.txt middleware with RFC 9309's rules: a robots.txt
  that answers 4xx allows everything, one that is unreachable (5xx, timeout, refused) disallows
  everything for now; each host's rules are fetched again after a day (an hour after an error).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from OpenSSL import SSL
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DownloadFailedError, IgnoreRequest
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

from crawler.guard import refusal, resolved_refusal

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

log = logging.getLogger("crawler.guard")


class RefusedRequest(IgnoreRequest):
    """A URL crawler never fetches (scheme or host); unlike a robots.txt refusal, final."""


class UrlGuardMiddleware:
    def __init__(self, allow_hosts: frozenset[str], stats: StatsCollector) -> None:
        self.allow_hosts = allow_hosts
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        hosts = frozenset(crawler.settings.getlist("CRAWLER_ALLOW_HOSTS"))
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

        hosts = frozenset(crawler.settings.getlist("CRAWLER_ALLOW_HOSTS"))
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
        receiver = _PublicOnly(resolutionReceiver, hostName, portNumber, self.allow_hosts)
        return self.original.resolveHostName(
            receiver, hostName, portNumber, addressTypes, transportSemantics
        )


@implementer(IResolutionReceiver)
class _PublicOnly:
    """Passes on the resolved addresses `guard.resolved_refusal` allows; logs the others."""

    def __init__(self, receiver: Any, host: str, port: int, allow_hosts: frozenset[str]) -> None:
        self.receiver = receiver
        self.host, self.port = host, port
        self.allow_hosts = allow_hosts

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        reason = resolved_refusal(self.host, self.port, [address.host], self.allow_hosts)
        if reason is None:
            self.receiver.addressResolved(address)
        else:
            log.warning("refused address host=%s address=%s: %s", self.host, address.host, reason)

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
