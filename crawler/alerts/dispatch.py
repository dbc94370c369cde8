"""One alert message to one recipient, by the recipient's kind: mail, Apprise or webhook.

The sender decides which rows make up a message and what to do with a failure; this module
only turns the rows' items into the message the recipient's service takes and sends it::

    answer = Dispatch(config, mail_transport).send(Message(topic, alert, recipient, items, key))

`send` blocks (run it with ``asyncio.to_thread``), returns the recipient's answer as one line
with the URL redacted, and raises TemporaryFailure / PermanentFailure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crawler.alerts.chat import chat_message, uses_markdown
from crawler.alerts.message import AlertItem, build_message
from crawler.alerts.recipients import recipient_kind, redact
from crawler.alerts.services import AppriseService, WebhookService, webhook_body
from crawler.alerts.transports import FileTransport, Transport
from crawler.config import AlertSettings, Settings, webhook_secret


@dataclass(frozen=True, slots=True)
class Message:
    """What goes to one recipient: `items` for the text, `records` (the queued items, as in
    the queue folder) for a webhook, and the message key that names it on every attempt."""

    topic: str
    alert: AlertSettings
    recipient: str  # as written in the settings
    items: Sequence[AlertItem]
    records: Sequence[dict[str, Any]] = ()
    key: str | None = None


class Dispatch:
    def __init__(self, config: Settings, mail: Transport) -> None:
        self.config = config
        self.mail = mail

    def send(self, message: Message) -> str:
        target = message.alert.target(message.recipient)
        kind = recipient_kind(target)
        if kind == "webhook":
            return self._webhook(message, target)
        if kind == "apprise":
            return self._apprise(message, target)
        return self._mail(message, target)

    def _mail(self, message: Message, address: str) -> str:
        email = build_message(
            topic=message.topic,
            items=message.items,
            sender=self.config.mail.sender,
            recipients=[address],
            digest=message.alert.mode == "digest",
            subject_prefix=message.alert.subject_prefix,
            message_key=message.key,
        )
        self.mail.send(email)
        if isinstance(self.mail, FileTransport):
            return f"written to {self.mail.last_path}"
        mail = self.config.mail
        return f"accepted by {mail.host}:{mail.port} for {address}"

    def _apprise(self, message: Message, url: str) -> str:
        service = AppriseService(url)
        markdown = uses_markdown(url)
        title, body = chat_message(
            message.topic,
            message.items,
            markdown=markdown,
            limit=service.body_limit,
            max_items=message.alert.max_items,
            title_limit=service.title_limit,
        )
        return service.send(title, body, markdown)

    def _webhook(self, message: Message, url: str) -> str:
        key = message.key or "test"
        body = webhook_body(
            topic=message.topic,
            mode=message.alert.mode,
            message_key=key,
            items=list(message.records),
        )
        service = WebhookService(url, webhook_secret(), self.config.mail.timeout.total_seconds())
        return service.send(body, key)


def shown(alert: AlertSettings, recipient: str) -> str:
    """A recipient for logs and terminals, redacted: ``${NAME}`` with what it stands for."""
    target = alert.target(recipient)
    if target == recipient:
        return redact(recipient)
    return f"{recipient} ({redact(target)})"
