"""The platform's own mail: SMTP through smtplib against a real local SMTP server, the log
without CODEX32_SMTP_URL, and failures that never raise nor leak the message."""

from __future__ import annotations

import email
import logging
import socketserver
import threading
import uuid
from collections.abc import Iterator
from email.message import Message as ParsedMessage

import pytest

from codex32.config import ConfigError, Settings
from codex32.runtime import background
from codex32.services.mail import Mailer, Message, SmtpServer
from codex32.testing.receivers import free_port
from tests.conftest import MAILBOX, PASSWORD, sign_up


class _Session(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT (no STARTTLS)."""

    def handle(self) -> None:
        self._say("220 localhost test SMTP")
        envelope: dict[str, object] = {"rcpt": []}
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-localhost\r\n250 8BITMIME")
            elif verb in ("HELO", "RSET", "NOOP"):
                self._say("250 ok")
            elif verb == "MAIL":
                envelope["from"] = line
                self._say("250 ok")
            elif verb == "RCPT":
                envelope["rcpt"].append(line)  # type: ignore[union-attr]
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go on")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.received.append(  # type: ignore[attr-defined]
                    (envelope, email.message_from_bytes(b"".join(data))))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")

    def _say(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[tuple[dict, ParsedMessage]]]]:
    """A plain SMTP server on 127.0.0.1; yields its port and what it received."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Session)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.server_address[1], server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_a_message_goes_out_through_smtp(smtp):
    port, received = smtp
    mailer = Mailer(f"smtp://127.0.0.1:{port}", "Codex-32 <no-reply@codex32.test>")
    sent = mailer.send(Message(to="dev@example.com", subject="Hello", body="token: abc\n",
                               token="abc"))
    assert sent is True
    (envelope, message), = received
    assert "dev@example.com" in envelope["rcpt"][0]
    assert message["To"] == "dev@example.com" and message["Subject"] == "Hello"
    assert message["From"] == "Codex-32 <no-reply@codex32.test>"
    assert "token: abc" in message.get_payload()


def test_a_sign_up_mails_its_token_through_the_configured_smtp_server(smtp, make_app):
    port, received = smtp
    client = make_app(smtp_url=f"smtp://127.0.0.1:{port}",
                      public_url="https://codex32.example.com").test_client()
    address = f"smtp-{uuid.uuid4().hex[:8]}@example.com"
    response = client.post("/api/v1/workspaces", json={
        "name": f"Mailed {address}", "admin_email": address, "admin_password": PASSWORD})
    assert response.status_code == 202
    (_envelope, message), = received
    assert message["To"] == address
    body = message.get_payload()
    assert "https://codex32.example.com/api/v1/auth/verify" in body
    token = body.rsplit("token: ", 1)[1].strip()
    assert client.post("/api/v1/auth/verify", json={
        "token": token, "password": PASSWORD}).status_code == 200
    assert MAILBOX.tokens_for(address) == []  # nothing went to the log


def test_a_workspace_name_with_line_breaks_neither_fails_an_invitation_nor_adds_headers(
        smtp, client, make_app):
    # The invitation's subject quotes the workspace's name, which its admin chooses: a line
    # break there was refused by the mail library (a 500 after the invitation was stored) and
    # must never become a header of its own (Bcc) either.
    port, received = smtp
    tenant = sign_up(client, name="Acme\r\nBcc: spy@evil.test")  # verified through the log
    mailing = make_app(smtp_url=f"smtp://127.0.0.1:{port}").test_client()
    invited = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    response = mailing.post("/api/v1/invitations", json={"email": invited, "role": "user"},
                            headers={"Authorization": f"Bearer {tenant.access_token}"})

    assert response.status_code == 201, response.json
    (envelope, message), = received
    assert [rcpt.upper() for rcpt in envelope["rcpt"]] == [f"RCPT TO:<{invited.upper()}>"]
    assert message["Bcc"] is None
    assert message["Subject"] == "Invitation to Acme Bcc: spy@evil.test on Codex-32"


def test_a_password_reset_mails_its_token_through_the_configured_smtp_server(
        smtp, client, make_app):
    port, received = smtp
    tenant = sign_up(client)  # verified through the log
    mailing = make_app(smtp_url=f"smtp://127.0.0.1:{port}",
                       public_url="https://codex32.example.com").test_client()

    asked = mailing.post("/api/v1/auth/password-reset", json={"email": tenant.email})

    assert asked.status_code == 202
    assert background.wait_idle(5)
    (_envelope, message), = received
    assert message["To"] == tenant.email and "reset" in message["Subject"].lower()
    body = message.get_payload()
    assert "https://codex32.example.com/api/v1/auth/password-reset/confirm" in body
    token = body.rsplit("token: ", 1)[1].strip()
    assert mailing.post("/api/v1/auth/password-reset/confirm", json={
        "token": token, "password": "a brand new passphrase 7"}).status_code == 200
    assert token not in MAILBOX.tokens_for(tenant.email)  # nothing went to the log


class _GatedSession(_Session):
    """A session whose greeting waits until the test opens the server's gate."""

    def handle(self) -> None:
        self.server.gate.wait(5)  # type: ignore[attr-defined]
        super().handle()


def test_a_password_reset_answers_before_its_mail_is_handed_over(client, make_app):
    """The answer must not wait for the lookup or the mail, whose time would tell whether the
    address has an account: here the SMTP server stalls until the answer is in."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _GatedSession)
    server.daemon_threads = True
    server.received, server.gate = [], threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        tenant = sign_up(client)
        mailing = make_app(smtp_url=f"smtp://127.0.0.1:{server.server_address[1]}").test_client()

        asked = mailing.post("/api/v1/auth/password-reset", json={"email": tenant.email})

        assert asked.status_code == 202 and server.received == []  # type: ignore[attr-defined]
        server.gate.set()  # type: ignore[attr-defined]
        assert background.wait_idle(5)
        (_envelope, message), = server.received  # type: ignore[attr-defined]
        assert message["To"] == tenant.email
    finally:
        server.gate.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def test_an_unreachable_smtp_server_is_logged_without_the_message(caplog):
    mailer = Mailer(f"smtp://127.0.0.1:{free_port()}", "no-reply@codex32.test")
    with caplog.at_level(logging.ERROR, logger="codex32.services.mail"):
        sent = mailer.send(Message(to="dev@example.com", subject="s", body="secret-token-9",
                                   token="secret-token-9"))
    assert sent is False
    assert "dev@example.com" in caplog.text and "secret-token-9" not in caplog.text


def test_without_smtp_the_message_and_its_token_are_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="codex32.services.mail"):
        assert Mailer(None, "no-reply@codex32.test").send(
            Message(to="dev@example.com", subject="s", body="token: t0k", token="t0k")) is False
    assert "token: t0k" in caplog.text and "CODEX32_SMTP_URL" in caplog.text


def test_the_smtp_url_is_parsed_and_its_password_never_shown():
    server = SmtpServer.parse("smtps://mailer%40corp:p%40ss@mail.example.com")
    assert (server.host, server.port, server.implicit_tls) == ("mail.example.com", 465, True)
    assert (server.username, server.password) == ("mailer@corp", "p@ss")
    assert "p@ss" not in repr(server)
    assert SmtpServer.parse("smtp://127.0.0.1").port == 587
    assert SmtpServer.parse("smtp://127.0.0.1").loopback
    assert not SmtpServer.parse("smtp://mail.example.com").loopback


def test_a_smtp_url_with_another_scheme_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="CODEX32_SMTP_URL"):
        Settings.from_env({"CODEX32_DATA_DIR": str(tmp_path),
                           "CODEX32_SMTP_URL": "http://mail.example.com"})
