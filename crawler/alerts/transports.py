"""Transports that deliver an alert message: a folder of .eml files, or an SMTP server.

`send` blocks, so the sender runs it off the event loop (`await asyncio.to_thread(t.send, m)`).
A failure is one of two kinds, so the outbox knows whether to try again:

    TemporaryFailure   try again later: 4xx replies, connection refused or dropped, timeouts,
                       DNS failure, a folder that cannot be written right now
    PermanentFailure   do not retry until a person acts: 5xx replies, every recipient refused,
                       bad credentials (535), STARTTLS required but not offered, a server
                       certificate that does not verify
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

from crawler.errors import PermanentFailure, TemporaryFailure
from crawler.queue import fsync_dir

log = logging.getLogger(__name__)
Security = Literal["starttls", "tls", "none"]


__all__ = ["FileTransport", "PermanentFailure", "SmtpTransport", "TemporaryFailure", "Transport"]


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver `message` or raise TemporaryFailure / PermanentFailure; blocking."""
        ...


class FileTransport:
    """One .eml file per message in `folder`, so a fresh install keeps every alert.

    A file is written under a hidden temporary name, flushed and fsynced, then renamed into
    place, so a reader never sees a partial message. Its name ends in a digest of the
    Message-ID, and a message whose file is already there is not written again. `last_path` is
    the file last written."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.last_path: Path | None = None

    def send(self, message: EmailMessage) -> None:
        data = message.as_bytes()
        key = str(message.get("Message-ID", "")).encode("utf-8", "replace") or data
        digest = hashlib.sha256(key).hexdigest()[:16]
        if self.folder.is_dir() and (done := next(self.folder.glob(f"*.{digest}.eml"), None)):
            self.last_path = done  # sent before; its outbox rows were not marked in time
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}.{digest}.eml"
        path, tmp_path = self.folder / name, self.folder / f".{name}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp_path, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_path, path)
            fsync_dir(self.folder)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {path}: {exc.strerror or exc}") from exc
        finally:
            tmp_path.unlink(missing_ok=True)
        self.last_path = path


def _classify(exc: BaseException, where: str) -> TemporaryFailure | PermanentFailure:
    """The failure an smtplib, ssl or socket error stands for."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {code for code, _ in exc.recipients.values()}
        text = "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
        )
        if codes and all(400 <= code < 500 for code in codes):
            return TemporaryFailure(f"{where}: recipients refused for now: {text}", min(codes))
        return PermanentFailure(f"{where}: recipients refused: {text}", max(codes, default=None))
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}"
        if 500 <= exc.smtp_code < 600:
            return PermanentFailure(text, exc.smtp_code)
        return TemporaryFailure(text, exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentFailure(f"{where}: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentFailure(f"{where}: server certificate not trusted: {exc.verify_message}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TemporaryFailure(f"{where}: connection closed by the server: {exc}")
    return TemporaryFailure(f"{where}: {type(exc).__name__}: {exc}")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class SmtpTransport:
    """Delivery through an SMTP server with smtplib.

    `security` is "starttls" (required: a server that does not offer it fails permanently, never
    a fallback to plain text), "tls" (implicit TLS, usually port 465) or "none" (plain text, only
    when chosen explicitly). Certificates and host names are verified with `ssl_context`, by
    default `ssl.create_default_context()`. Credentials are sent only after TLS is up, or over
    plain text when security is "none"."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Security,
        username: str | None,
        password: str | None,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"security must be starttls, tls or none, not {security!r}")
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        self.username = username
        self._password = password
        self._context = ssl_context
        if security != "none" and ssl_context is None:
            self._context = ssl.create_default_context()

    def __repr__(self) -> str:
        return f"SmtpTransport({self.host}:{self.port}, security={self.security})"

    def send(self, message: EmailMessage) -> None:
        where = f"smtp {self.host}:{self.port}"
        try:
            smtp = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, where) from exc
        delivered = False
        try:
            self._secure_and_login(smtp)
            refused = smtp.send_message(message)
            delivered = True
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, where) from exc
        finally:
            if delivered:  # the server took the message: a failing QUIT must not cause a resend
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
            smtp.close()
        if refused:
            log.warning("alert refused for some recipients: %s refused=%s", where, refused)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if self.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise PermanentFailure(
                    f"smtp {self.host}:{self.port}: STARTTLS is required but the server does "
                    "not offer it; nothing was sent"
                )
            smtp.starttls(context=self._context)
            smtp.ehlo()
        if self.username:
            smtp.login(self.username, self._password or "")
