"""Keyword alerts: email (`build_message` and the mail transports), chat through Apprise and
signed webhooks (crawler/alerts/chat.py, services.py), sent from the outbox by sender.py.

message = build_message(topic="caspian-arms", items=items, sender="crawler@example.org",
                        recipients=["desk@example.org"], digest=True)
transport.send(message)   # blocking: run it with asyncio.to_thread
"""

from __future__ import annotations

from crawler.alerts.message import AlertItem, build_message
from crawler.alerts.transports import (
    FileTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
)

__all__ = [
    "AlertItem",
    "FileTransport",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "build_message",
]
