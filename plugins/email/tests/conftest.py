"""Fixtures for the e-mail notifier's tests: a small SMTP server with STARTTLS and AUTH, and a
self-signed certificate made at test time. aiosmtpd is not a dependency, hence the server."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Delivered:
    """One message as the server received it."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes
    over_tls: bool
    user: str | None


@dataclass
class SMTPServer:
    """An SMTP responder for tests: EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT.

    ``events`` lists the commands in order (with ``+tls`` when sent over TLS), so a test can
    check that STARTTLS came before AUTH.
    """

    context: ssl.SSLContext
    credentials: tuple[str, str] = ("", "")
    offer_starttls: bool = True
    implicit_tls: bool = False
    refuse_recipients: frozenset[str] = frozenset()
    port: int = 0
    events: list[str] = field(default_factory=list)
    messages: list[Delivered] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.02)  # lets the accept loop notice stop() quickly
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        try:
            if self.implicit_tls:
                connection = self.context.wrap_socket(connection, server_side=True)
            _Session(self, connection, tls=self.implicit_tls).run()
        except (OSError, ssl.SSLError):
            pass  # the client went away or refused our certificate
        finally:
            connection.close()


class _Session:
    """One client connection, answered line by line."""

    def __init__(self, server: SMTPServer, connection: socket.socket, *, tls: bool) -> None:
        self.server, self.connection, self.tls = server, connection, tls
        self.reader = connection.makefile("rb")
        self.user: str | None = None
        self.mail_from = ""
        self.rcpt_to: list[str] = []

    def send(self, *lines: str) -> None:
        self.connection.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def read_line(self) -> str:
        line = self.reader.readline(4096)
        if not line:
            raise ConnectionError("client closed")
        return line.decode().rstrip("\r\n")

    def run(self) -> None:
        self.send("220 fake.test ESMTP ready")
        while True:
            line = self.read_line()
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            self.server.events.append(verb + ("+tls" if self.tls else ""))
            if verb == "QUIT":
                self.send("221 bye")
                return
            handler = getattr(self, f"do_{verb.lower()}", None)
            if handler is None:
                self.send("502 command not implemented")
            else:
                handler(argument)

    def do_ehlo(self, argument: str) -> None:
        features = ["fake.test", "8BITMIME"]
        if self.server.offer_starttls and not self.tls:
            features.append("STARTTLS")
        features.append("AUTH PLAIN LOGIN")
        self.send(*(f"250-{f}" for f in features[:-1]), f"250 {features[-1]}")

    def do_helo(self, argument: str) -> None:
        self.send("250 fake.test")

    def do_noop(self, argument: str) -> None:
        self.send("250 ok")

    def do_rset(self, argument: str) -> None:
        self.mail_from, self.rcpt_to = "", []
        self.send("250 ok")

    def do_starttls(self, argument: str) -> None:
        if not self.server.offer_starttls or self.tls:
            self.send("454 TLS not available")
            return
        self.send("220 go ahead")
        self.connection = self.server.context.wrap_socket(self.connection, server_side=True)
        self.reader = self.connection.makefile("rb")
        self.tls = True

    def do_auth(self, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        if mechanism == "PLAIN":
            if not initial:
                self.send("334 ")
                initial = self.read_line()
            _, user, password = base64.b64decode(initial).decode().split("\0")
        elif mechanism == "LOGIN":
            if not initial:
                self.send("334 " + base64.b64encode(b"Username:").decode())
                initial = self.read_line()
            user = base64.b64decode(initial).decode()
            self.send("334 " + base64.b64encode(b"Password:").decode())
            password = base64.b64decode(self.read_line()).decode()
        else:
            self.send("504 unrecognized authentication type")
            return
        if (user, password) == self.server.credentials:
            self.user = user
            self.send("235 2.7.0 authentication successful")
        else:
            self.send("535 5.7.8 authentication credentials invalid")

    def do_mail(self, argument: str) -> None:
        self.mail_from = argument.partition(":")[2].split(" ")[0].strip("<>")
        self.send("250 ok")

    def do_rcpt(self, argument: str) -> None:
        address = argument.partition(":")[2].strip().strip("<>")
        if address in self.server.refuse_recipients:
            self.send("550 5.1.1 no such user")
            return
        self.rcpt_to.append(address)
        self.send("250 ok")

    def do_data(self, argument: str) -> None:
        if not self.rcpt_to:
            self.send("503 need RCPT first")
            return
        self.send("354 end with <CRLF>.<CRLF>")
        lines: list[bytes] = []
        while (line := self.reader.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b".") else line)  # undo dot-stuffing
        self.server.messages.append(Delivered(self.mail_from, self.rcpt_to, b"".join(lines),
                                              self.tls, self.user))
        self.mail_from, self.rcpt_to = "", []
        self.send("250 queued")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def trust_certificate(certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ssl.create_default_context() trust the test certificate (OpenSSL reads this
    variable each time default paths are loaded)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))


@pytest.fixture
def smtp_server(certificate) -> Iterator[Callable[..., SMTPServer]]:
    """Start an SMTP server with the given options; all are stopped after the test."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    started: list[SMTPServer] = []

    def start(**options: object) -> SMTPServer:
        server = SMTPServer(context=context, **options)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def private_targets_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server is on 127.0.0.1, so the operator allows private targets unless a test says
    otherwise."""
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "1")
