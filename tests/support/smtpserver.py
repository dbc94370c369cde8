"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, in a thread.

aiosmtpd's Controller refuses port 0, so the server is made with loop.create_server.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP

TIMEOUT = 2.0


@dataclass
class Recorder:
    """An aiosmtpd handler that records what it was sent and answers as told."""

    rcpt_reply: str | None = None
    data_reply: str = "250 2.0.0 OK"
    drop_after_data: bool = False
    commands: list[str] = field(default_factory=list)
    mail_from: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.drop_after_data:
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return "250 OK"
        if self.data_reply.startswith("250"):
            self.received.append(envelope.original_content)
        return self.data_reply


class RecordingSMTP(SMTP):
    """aiosmtpd's server, noting every AUTH, MAIL and DATA command in the handler."""

    async def smtp_AUTH(self, arg: str) -> None:
        self.event_handler.commands.append("AUTH")
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str) -> None:
        self.event_handler.commands.append("MAIL")
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self.event_handler.commands.append("DATA")
        await super().smtp_DATA(arg)


@contextmanager
def smtp_server(
    handler: Recorder, implicit_tls: ssl.SSLContext | None = None, **options: Any
) -> Iterator[int]:
    """A real aiosmtpd server on 127.0.0.1 and a free port, run by an event loop in a thread;
    `options` go to aiosmtpd's SMTP, `implicit_tls` wraps the whole connection (as on 465)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        return await loop.create_server(
            lambda: RecordingSMTP(handler, hostname="localhost", **options),
            "127.0.0.1",
            0,
            ssl=implicit_tls,
        )

    async def stop(server: asyncio.Server) -> None:
        server.close()
        await server.wait_closed()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(TIMEOUT)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        asyncio.run_coroutine_threadsafe(stop(server), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
