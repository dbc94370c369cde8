"""Delivery to chat services through Apprise, and to signed webhooks.

Both block (run them with ``asyncio.to_thread``) and fail with the two kinds the outbox knows:

    TemporaryFailure   try again later; `retry_after` is the receiver's Retry-After, if any
    PermanentFailure   do not retry until a person acts

A webhook's answer is ours to read: 2xx delivered; 408, 429 and 5xx, timeouts and refused
connections temporary (Retry-After honoured); any other status permanent (redirects are not
followed: a webhook URL that moved is a setting to fix).

Apprise answers only True or False, so a failed Apprise delivery is always temporary, with
`attempts_limit` set: the sender gives up after that many attempts and marks the rows failed.
The reason shown is the last warning Apprise logged for the call (it names the HTTP status for
most services).

Webhook body, signed when a secret is set (CRAWLER_WEBHOOK_SECRET)::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <message key>          the same on every retry of this message
    X-Crawler-Timestamp: <unix seconds>
    X-Crawler-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, key = the secret>

    {"type": "crawler.alert", "idempotency_key": ..., "topic": ..., "mode": ..., "items": [...]}

`items` are the items exactly as written to the queue folder.
"""

from __future__ import annotations

import hmac
import json
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any

from crawler import __version__
from crawler.alerts.recipients import apprise_log, redact, scrub, webhook_target
from crawler.errors import PermanentFailure, TemporaryFailure

APPRISE_ATTEMPTS = 8  # a failed Apprise delivery is tried this many times, then marked failed
WEBHOOK_TYPE = "crawler.alert"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, moment - (time.time() if now is None else now))


class AppriseService:
    """One Apprise URL. `send` delivers a title and body in `body_format` ("markdown" or
    "text"); Apprise converts Markdown to the service's own format."""

    def __init__(self, url: str) -> None:
        import apprise

        with apprise_log():
            plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is None:
            raise PermanentFailure(f"{redact(url)}: not a URL Apprise understands")
        self.url = url
        self.plugin: Any = plugin

    @property
    def body_limit(self) -> int:
        """The longest body the service takes (less the title, which some put in the body)."""
        limit = int(self.plugin.body_maxlen or 32768)
        return max(200, limit - (0 if self.plugin.title_maxlen else 260))

    @property
    def title_limit(self) -> int:
        return min(int(self.plugin.title_maxlen or 250), 250)

    @property
    def native_markdown(self) -> bool:
        """Does Apprise speak Markdown to this service (else pass Markdown through as text)?"""
        formats = self.plugin.notify_format
        formats = formats if isinstance(formats, tuple | list) else (formats,)
        return any(str(getattr(f, "value", f)) in ("markdown", "html") for f in formats)

    def send(self, title: str, body: str, markdown: bool) -> str:
        import apprise

        body_format = apprise.NotifyFormat.TEXT
        if markdown and self.native_markdown:
            body_format = apprise.NotifyFormat.MARKDOWN
        with apprise_log() as lines:
            delivered = self.plugin.notify(body=body, title=title, body_format=body_format)
        if not delivered:
            reason = lines[-1] if lines else "Apprise reported a failure"
            failure = TemporaryFailure(f"{redact(self.url)}: {scrub(reason, self.url)}")
            failure.attempts_limit = APPRISE_ATTEMPTS
            raise failure
        return f"accepted by {redact(self.url)}"


def webhook_body(*, topic: str, mode: str, message_key: str, items: list[dict[str, Any]]) -> bytes:
    """The JSON a webhook receives (see the module docstring)."""
    document = {
        "type": WEBHOOK_TYPE,
        "idempotency_key": message_key,
        "topic": topic,
        "mode": mode,
        "items": items,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Crawler-Signature value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return f"sha256={digest.hexdigest()}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # an answer of 3xx is reported as it is


_OPENER = urllib.request.build_opener(_NoRedirect())


class WebhookService:
    """A ``webhook+http(s)://`` recipient: one signed JSON POST per message.

    The URL is the operator's own setting, like the SMTP host, so the address guard that
    protects fetches of article links does not apply: a webhook may be on a private network."""

    def __init__(self, recipient: str, secret: str | None, timeout: float) -> None:
        self.recipient = recipient
        self.url = webhook_target(recipient)
        self.secret = secret
        self.timeout = timeout

    def send(self, body: bytes, message_key: str) -> str:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"crawler/{__version__}",
            "Idempotency-Key": message_key,
            "X-Crawler-Timestamp": timestamp,
        }
        if self.secret:
            headers["X-Crawler-Signature"] = sign(self.secret, timestamp, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        where = redact(self.recipient)
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                return f"{where} answered {answer.status}"
        except urllib.error.HTTPError as exc:
            exc.close()  # its answer is read: free the connection
            status = exc.code
            reason = f"{where} answered {status} {exc.reason}"
            if status in (408, 429) or status >= 500:
                failure = TemporaryFailure(reason, status)
                failure.retry_after = retry_after(exc.headers.get("Retry-After"))
                raise failure from None
            raise PermanentFailure(reason, status) from None
        except (urllib.error.URLError, OSError) as exc:
            cause = getattr(exc, "reason", exc)
            raise TemporaryFailure(f"{where}: {cause}") from None
