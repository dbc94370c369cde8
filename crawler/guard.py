"""The address guard: which URLs and addresses crawler may connect to. Standard library only.

Every fetch crawler makes, from any command, passes these rules. A URL is refused when

- its scheme is not http or https (redirects to `ftp:` or `file:` included);
- its host is a local name (`localhost`, `*.localhost`) or a literal address that is not public;
- the host name resolves to an address that is not public (checked on the very addresses
  connected to, so a DNS answer that changes between check and connect fails too).

An IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
`::a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo) is judged by
what it carries as well: `[64:ff9b::a9fe:a9fe]` is 169.254.169.254 and is refused.

`fetch.allow_hosts` lets chosen hosts through all the same, written as users write them:
`localhost`, `intranet.example:8080`, `127.0.0.1`, `::1`, `[::1]:8080`. An entry with a port
allows that port only. ::

    refusal("http://[::1]:8080/", ["[::1]:8080"])      # None: allowed
    refusal("ftp://example.org/", [])                  # "scheme 'ftp' is not http(s)"
    resolved_refusal("example.org", 80, ["10.0.0.5"], [])  # "... is not public"
    page = fetch("https://example.org/", user_agent="crawler", allow_hosts=[], timeout=30,
                 max_bytes=10_000_000)

The Scrapy side (`crawler.middlewares`) applies `refusal` to every request and
`resolved_refusal` to every address its resolver returns; `fetch` is the blocking client of the
command-line fetches (`crawler topics test QUERY URL`, `crawler sources discover`).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from crawler.errors import FetchError

__all__ = [
    "Fetched",
    "address_refusal",
    "embedded_ipv4",
    "fetch",
    "is_allowed",
    "refusal",
    "resolved_refusal",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 10
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.ip_network("::/96")  # IPv4-compatible, deprecated but still routed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
AllowList = frozenset[tuple[str, int | None]]


def refusal(url: str, allow_hosts: Iterable[str]) -> str | None:
    """Why `url` must not be fetched (scheme, local name, literal address), or None when it may.

    A host name that is not local passes here; what it resolves to is `resolved_refusal`'s.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "malformed URL"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme or 'missing'!r} is not http(s)"
    host = _host(parts.hostname or "")
    if not host:
        return "no host"
    if is_allowed(host, port or DEFAULT_PORTS[scheme], allow_hosts):
        return None
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return f"host {host} is local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name; resolved addresses are checked when connecting
    return address_refusal(address)


def resolved_refusal(
    host: str, port: int, addresses: Iterable[str], allow_hosts: Iterable[str]
) -> str | None:
    """Why connecting to `host` at any of `addresses` (what it resolved to) is refused, or None.

    An allowed host may resolve to anything; otherwise each address must be public or be an
    allowed address itself.
    """
    host = _host(host)
    if is_allowed(host, port, allow_hosts):
        return None
    for text in addresses:
        try:
            address = ipaddress.ip_address(_host(text).split("%")[0])
        except ValueError:
            return f"{host} resolves to {text!r}, which is not an address"
        if is_allowed(str(address), port, allow_hosts):
            continue
        reason = address_refusal(address)
        if reason is not None:
            return f"{host} resolves to {address}: {reason}"
    return None


def address_refusal(address: Address) -> str | None:
    """Why `address` is not public, or None: judged with every IPv4 address it carries."""
    if not address.is_global:
        return f"address {address} is not public"
    for inner in embedded_ipv4(address):
        if not inner.is_global:
            return f"address {address} carries {inner}, which is not public"
    return None


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for an IPv4 address)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _COMPATIBLE or any(address in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_allowed(host: str, port: int | None, allow_hosts: Iterable[str]) -> bool:
    """Whether `fetch.allow_hosts` names this host (any port) or this host and port."""
    entries = _allow_list(frozenset(allow_hosts))
    host = _host(host)
    return (host, None) in entries or (port is not None and (host, port) in entries)


@lru_cache(maxsize=64)
def _allow_list(entries: frozenset[str]) -> AllowList:
    """`allow_hosts` entries as (host, port or None), hosts in the form `_host` gives."""
    parsed: set[tuple[str, int | None]] = set()
    for entry in entries:
        text = entry.strip().lower()
        if text.count(":") > 1 and not text.startswith("["):  # a bare IPv6 address
            parsed.add((_host(text), None))
            continue
        try:
            parts = urlsplit(f"//{text}")
            parsed.add((_host(parts.hostname or text), parts.port))
        except ValueError:
            parsed.add((_host(text), None))  # an odd entry matches only as written
    return frozenset(parsed)


def _host(host: str) -> str:
    """A host as compared: lower case, no brackets or final dot, an address in canonical form."""
    host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


# -- the command-line fetch ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    body: bytes
    content_type: str | None


def fetch(
    url: str,
    *,
    user_agent: str,
    allow_hosts: Iterable[str],
    timeout: float,
    max_bytes: int,
    accept: str = "*/*",
    verify: bool = True,
) -> Fetched:
    """GET `url` under the guard: each hop (redirects included) is checked with `refusal`, its
    host resolved, the addresses checked with `resolved_refusal`, and a checked address is the
    one connected to. Raises `FetchError` ("refused: ...", "HTTP 404 Not Found", ...)."""
    allow = frozenset(allow_hosts)
    deadline = time.monotonic() + timeout
    for hop in range(MAX_REDIRECTS + 1):
        reason = refusal(url, allow)
        if reason is not None:
            raise FetchError(
                f"redirect to {url} refused: {reason}" if hop else f"refused: {reason}"
            )
        response, connection = _request(url, user_agent, accept, allow, timeout, verify, hop)
        try:
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location.strip())
                continue
            if response.status >= 400:
                raise FetchError(f"HTTP {response.status} {response.reason}")
            body = _read(response, max_bytes, deadline)
            return Fetched(url, body, response.getheader("Content-Type"))
        finally:
            connection.close()
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _request(
    url: str, agent: str, accept: str, allow: frozenset[str], timeout: float, verify: bool, hop: int
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise FetchError(
            f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    reason = resolved_refusal(host, port, [str(info[4][0]) for info in infos], allow)
    if reason is not None:
        raise FetchError(f"redirect to {url} refused: {reason}" if hop else f"refused: {reason}")

    def connect_checked(*_: Any, **__: Any) -> socket.socket:
        """Connect to one of the addresses just checked, never to a fresh DNS answer."""
        error: OSError = OSError(f"cannot connect to {host}")
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(timeout)
            try:
                sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    connection: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection._create_connection = connect_checked  # type: ignore[attr-defined]
    target = quote(parts.path or "/", safe="/%;:@&=+$,!~*'()[]")  # as a browser sends it
    if parts.query:
        target += "?" + quote(parts.query, safe="/%;:@&=+$,!~*'()[]?")
    try:
        connection.request("GET", target, headers={"User-Agent": agent, "Accept": accept})
        return connection.getresponse(), connection
    except ssl.SSLCertVerificationError as exc:  # worded as the crawl words it
        connection.close()
        raise FetchError(f"TLS: certificate verify failed ({exc.verify_message})") from None
    except ssl.SSLError as exc:
        connection.close()
        raise FetchError(f"TLS: {exc.reason or exc}") from None
    except (OSError, UnicodeError, http.client.HTTPException) as exc:
        connection.close()
        raise FetchError(str(exc) or type(exc).__name__) from None


def _read(response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := response.read(min(65536, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"larger than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError("timed out")
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from None
    return b"".join(chunks)
