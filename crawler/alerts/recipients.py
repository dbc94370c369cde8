"""Who an alert goes to: an email address, an Apprise URL (chat, push) or a signed webhook.

One recipient of ``alert.to`` is one of three kinds, decided here and nowhere else:

=================================  =================================================================
``desk@example.org``               mail, through the ``[mail]`` transport
``webhook+https://host/path``      a signed JSON POST (``webhook+http://`` too, for local receivers)
``ntfy://host/topic``, ``slack://…``  any other URL with a scheme: Apprise
=================================  =================================================================

Recipient URLs carry secrets (bot tokens, webhook paths, topic names), so anything shown to a
person goes through :func:`redact` first: logs, ``crawler check``, ``crawler status``, the web app.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import threading
from collections.abc import Iterator
from functools import cache
from typing import Literal
from urllib.parse import urlsplit

Kind = Literal["mail", "apprise", "webhook"]
WEBHOOK_PREFIX = "webhook+"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HOSTNAME = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def recipient_kind(recipient: str) -> Kind:
    """ "webhook" for ``webhook+http(s)://``, "apprise" for any other URL, "mail" otherwise."""
    if recipient.lower().startswith((WEBHOOK_PREFIX + "http://", WEBHOOK_PREFIX + "https://")):
        return "webhook"
    if _SCHEME.match(recipient):
        return "apprise"
    return "mail"


def webhook_target(recipient: str) -> str:
    """The http(s) URL a ``webhook+…`` recipient posts to."""
    return recipient[len(WEBHOOK_PREFIX) :]


def problem(recipient: str) -> str | None:
    """Why `recipient` (a URL, environment already expanded) cannot be used, or None."""
    kind = recipient_kind(recipient)
    if kind == "webhook":
        parts = urlsplit(webhook_target(recipient))
        if not parts.hostname:
            return f"{redact(recipient)} has no host"
        return None
    if kind == "apprise" and not _apprise_understands(recipient):
        scheme = recipient.split("://", 1)[0]
        return (
            f"{redact(recipient)} is not a URL Apprise understands (check the {scheme}:// "
            "service's URL format in the Apprise documentation)"
        )
    return None


@cache
def _apprise_understands(url: str) -> bool:
    import apprise

    with apprise_log():
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


class _AppriseLog(logging.Handler):
    """Apprise's log lines, kept per thread instead of printed: some of them quote a URL
    unredacted, and the sender reports a failure in a line of its own."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(self.local, "lines", None)
        if lines is not None and record.levelno >= logging.WARNING:
            lines.append(record.getMessage())


_APPRISE_LOG = _AppriseLog()
_apprise_logger = logging.getLogger("apprise")
_apprise_logger.addHandler(_APPRISE_LOG)
_apprise_logger.propagate = False


@contextlib.contextmanager
def apprise_log() -> Iterator[list[str]]:
    """The warnings and errors Apprise logs in this thread while the block runs."""
    lines: list[str] = []
    previous = getattr(_APPRISE_LOG.local, "lines", None)
    _APPRISE_LOG.local.lines = lines
    try:
        yield lines
    finally:
        _APPRISE_LOG.local.lines = previous


def redact(recipient: str) -> str:
    """`recipient` as it may be shown: an email address or a ``${VAR}`` reference as it is; of a
    URL only the scheme and, when it is a real host name or address, the host and port, with
    "…" for whatever else there was (credentials, tokens, paths, query).

    >>> redact("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general")
    'slack://…'
    >>> redact("webhook+https://hooks.example.org/in/s3cr3t?key=1")
    'webhook+https://hooks.example.org/…'
    """
    if recipient_kind(recipient) == "mail":
        return recipient
    scheme, rest = recipient.split("://", 1)
    try:
        parts = urlsplit(f"http://{rest}")
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}://…"
    if not _is_host(host):
        return f"{scheme}://…"
    shown = f"[{host}]" if ":" in host else host
    if port is not None:
        shown += f":{port}"
    more = bool(parts.username or parts.password or parts.path.strip("/") or parts.query)
    more = more or bool(parts.fragment)
    return f"{scheme}://{shown}/…" if more else f"{scheme}://{shown}"


def scrub(text: str, url: str) -> str:
    """`text` (a service's answer, a log line) with every part of `url` that :func:`redact`
    hides (tokens, user names, passwords, path segments, query values) replaced by "…"."""
    rest = url.split("://", 1)[-1]
    parts = re.split(r"[/?#&=:@]+", rest)
    shown = redact(url)
    secrets = sorted({p for p in parts if len(p) >= 3 and p not in shown}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "…")
    return text


def _is_host(host: str) -> bool:
    if host == "localhost" or _HOSTNAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
