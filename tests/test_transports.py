"""Alert transports: the .eml folder, and SMTP against a real aiosmtpd server on 127.0.0.1:0."""

from __future__ import annotations

import datetime as dt
import os
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from crawler.alerts import (
    AlertItem,
    FileTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
    build_message,
)
from crawler.alerts import transports as transports_module

from support.smtpserver import TIMEOUT, Recorder, closed_port, smtp_server
from support.tlscert import Certificate


def _message(
    title: str = "Cargo ships cross the Caspian — Каспий", key: str | None = None
) -> EmailMessage:
    item = AlertItem(
        item_id="01JITEM0000000000000000001",
        title=title,
        url="https://caspian-courier.example/news/1",
        source_name="Caspian Courier",
        published=dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC),
        snippet="Freighters carrying drones left Amirabad.",
        terms=["drones"],
    )
    return build_message(
        topic="caspian-arms",
        items=[item],
        sender="crawler@alerts.example",
        recipients=["desk@example.org"],
        digest=False,
        message_key=key,
    )


def _transport(port: int, security: str = "none", **options: Any) -> SmtpTransport:
    arguments: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": security,
        "username": None,
        "password": None,
        "timeout": TIMEOUT,
    }
    arguments.update(options)
    return SmtpTransport(**arguments)


# --- FileTransport ---------------------------------------------------------------------------


def test_file_transport_writes_one_eml_that_parses_back(tmp_path: Path) -> None:
    transport: Transport = FileTransport(tmp_path / "mail")
    message = _message()
    transport.send(message)
    transport.send(_message())
    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 2 and all(path.suffix == ".eml" for path in files)
    assert isinstance(transport, FileTransport) and transport.last_path in files
    assert files[0].read_bytes() == message.as_bytes()
    parsed = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert parsed["Subject"] == "caspian-arms: Cargo ships cross the Caspian — Каспий"
    assert parsed.get_content_type() == "multipart/alternative"


def test_a_message_sent_again_is_written_once(tmp_path: Path) -> None:
    """A retry of a message whose outbox rows were not marked sent (a crash, a full disk) is the
    same message, with the same Message-ID: the file transport keeps one copy."""
    transport = FileTransport(tmp_path / "mail")
    first, again = (
        _message(key="01JMESSAGE0000000000000001"),
        _message(key="01JMESSAGE0000000000000001"),
    )
    assert (
        first["Message-ID"]
        == again["Message-ID"]
        == "<01JMESSAGE0000000000000001.caspian-arms@alerts.example>"
    )
    transport.send(first)
    written = transport.last_path
    transport.send(again)
    assert transport.last_path == written
    assert [p.name for p in (tmp_path / "mail").iterdir()] == [written.name if written else ""]
    transport.send(_message(key="01JMESSAGE0000000000000002"))
    assert len(list((tmp_path / "mail").iterdir())) == 2


def test_file_transport_renames_a_complete_file_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mail"
    message = _message()
    seen: list[tuple[bytes, bool]] = []
    real_replace = os.replace

    def replace(source: str | Path, target: str | Path) -> None:
        seen.append((Path(source).read_bytes(), Path(target).exists()))
        assert not Path(source).name.endswith(".eml")
        real_replace(source, target)

    monkeypatch.setattr(transports_module.os, "replace", replace)
    FileTransport(folder).send(message)
    assert seen == [(message.as_bytes(), False)]


def test_file_transport_failure_is_temporary_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mail"

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transports_module.os, "fsync", failing_fsync)
    transport = FileTransport(folder)
    with pytest.raises(TemporaryFailure, match="No space left"):
        transport.send(_message())
    assert list(folder.iterdir()) == []
    assert transport.last_path is None


# --- SmtpTransport ---------------------------------------------------------------------------


def test_smtp_delivers_the_same_bytes() -> None:
    handler = Recorder()
    message = _message()
    with smtp_server(handler) as port:
        _transport(port).send(message)
    assert handler.commands == ["MAIL", "DATA"]
    assert handler.mail_from == ["crawler@alerts.example"]
    assert len(handler.received) == 1
    received = handler.received[0]
    assert received.split(b"\r\n\r\n")[0] == message.as_bytes().split(b"\r\n\r\n")[0]
    assert received.rstrip(b"\r\n") == message.as_bytes().rstrip(b"\r\n")


@pytest.mark.parametrize(
    ("handler", "failure", "code"),
    [
        (Recorder(data_reply="451 4.3.0 try later"), TemporaryFailure, 451),
        (Recorder(data_reply="554 5.6.0 message rejected"), PermanentFailure, 554),
        (Recorder(rcpt_reply="550 5.1.1 no such user"), PermanentFailure, 550),
        (Recorder(rcpt_reply="452 4.2.2 mailbox full"), TemporaryFailure, 452),
        (Recorder(drop_after_data=True), TemporaryFailure, None),
    ],
    ids=["data-451", "data-554", "rcpt-550", "rcpt-452", "drop-after-data"],
)
def test_smtp_replies_map_to_failures(
    handler: Recorder, failure: type[Exception], code: int | None
) -> None:
    with smtp_server(handler) as port, pytest.raises(failure) as caught:
        _transport(port).send(_message())
    assert getattr(caught.value, "code", None) == code
    assert handler.received == []


def test_connection_refused_is_temporary() -> None:
    with pytest.raises(TemporaryFailure, match="refused"):
        _transport(closed_port()).send(_message())


def test_server_that_never_answers_times_out_as_temporary() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        transport = _transport(silent.getsockname()[1], timeout=0.2)
        with pytest.raises(TemporaryFailure, match=r"[Tt]imed? ?out"):
            transport.send(_message())


def test_starttls_required_but_not_offered_is_permanent_and_sends_nothing() -> None:
    handler = Recorder()
    with smtp_server(handler) as port, pytest.raises(PermanentFailure, match="STARTTLS"):
        _transport(port, "starttls", username="desk", password="secret").send(_message())
    assert handler.commands == [] and handler.received == []


def test_starttls_with_a_trusted_certificate_delivers(certificate: Certificate) -> None:
    handler = Recorder()
    tls: dict[str, Any] = {"tls_context": certificate.server_context(), "require_starttls": True}
    with smtp_server(handler, **tls) as port:
        transport = _transport(port, "starttls", ssl_context=certificate.client_context())
        transport.send(_message())
    assert len(handler.received) == 1


def test_starttls_with_an_untrusted_certificate_fails_and_sends_nothing(
    certificate: Certificate,
) -> None:
    handler = Recorder()
    tls: dict[str, Any] = {"tls_context": certificate.server_context(), "require_starttls": True}
    with smtp_server(handler, **tls) as port, pytest.raises(PermanentFailure, match="certificate"):
        # the system trust store does not know the test certificate
        _transport(port, "starttls", username="desk", password="secret").send(_message())
    assert handler.commands == [] and handler.received == []


def test_implicit_tls_delivers(certificate: Certificate) -> None:
    handler = Recorder()
    with smtp_server(handler, implicit_tls=certificate.server_context()) as port:
        _transport(port, "tls", ssl_context=certificate.client_context()).send(_message())
    assert len(handler.received) == 1


def _authenticator(
    server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"desk" and data.password == b"secret"
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize(("password", "delivered"), [("secret", True), ("wrong", False)])
def test_login_over_starttls(certificate: Certificate, password: str, delivered: bool) -> None:
    handler = Recorder()
    tls: dict[str, Any] = {
        "tls_context": certificate.server_context(),
        "require_starttls": True,
        "authenticator": _authenticator,
        "auth_required": True,
    }
    transport_options = {"ssl_context": certificate.client_context(), "username": "desk"}
    with smtp_server(handler, **tls) as port:
        transport = _transport(port, "starttls", password=password, **transport_options)
        if delivered:
            transport.send(_message())
        else:
            with pytest.raises(PermanentFailure) as caught:
                transport.send(_message())
            assert caught.value.code == 535
    assert handler.commands[0] == "AUTH"
    assert len(handler.received) == (1 if delivered else 0)


def test_bad_security_setting_is_refused() -> None:
    with pytest.raises(ValueError):
        _transport(25, "ssl")
