"""The platform's own outgoing mail (address verification, invitations), not bots' notifiers.

With ``CODEX32_SMTP_URL`` a message goes out through the standard library's ``smtplib``:
``smtps://`` is implicit TLS, ``smtp://`` must upgrade with STARTTLS (a relay on the loopback
address may speak plain SMTP). Without it the message, token included, is written to the log at
WARNING level: that is how development and test read their verification and invitation tokens,
and an operator's only copy in a production that has no mail server yet. Sending never raises:
a failure is logged (without the message's text) and the caller's answer does not change, so
nothing tells a client whether a message went out.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from codex32.config import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Message:
    """One plain-text message to one address; ``token`` is what the reader must bring back."""

    to: str
    subject: str
    body: str
    token: str | None = None


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand messages over, parsed from ``CODEX32_SMTP_URL``."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """``smtp[s]://[user:password@]host[:port]``; a bad URL is a ``ValueError``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("CODEX32_SMTP_URL must look like smtp[s]://user:password@host:port")
        implicit = parts.scheme == "smtps"
        return cls(host=parts.hostname, port=parts.port or (465 if implicit else 587),
                   implicit_tls=implicit,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None)

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __repr__(self) -> str:
        return f"SmtpServer({self.host}:{self.port}, implicit_tls={self.implicit_tls})"


class Mailer:
    """Sends the platform's messages through SMTP, or writes them to the log."""

    def __init__(self, smtp_url: str | None, sender: str, public_url: str | None = None) -> None:
        self.server = SmtpServer.parse(smtp_url) if smtp_url else None
        self.sender = sender
        self.public_url = public_url

    @property
    def api_base(self) -> str:
        """The API's address as mails quote it (a bare path without ``CODEX32_PUBLIC_URL``)."""
        return f"{self.public_url or ''}/api/v1"

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        """The mailer ``CODEX32_SMTP_URL``, ``CODEX32_MAIL_FROM`` and ``CODEX32_PUBLIC_URL``
        describe."""
        return cls(settings.smtp_url, settings.mail_from, settings.public_url)

    def send(self, message: Message) -> bool:
        """Deliver ``message``; False (and a log line) when it could not be handed over."""
        if self.server is None:
            log.warning("mail to %s not sent (CODEX32_SMTP_URL is unset): %s\n%s",
                        message.to, message.subject, message.body,
                        extra={"mail_to": message.to, "mail_token": message.token})
            return False
        try:
            self._deliver(self.server, self._compose(message))
        except (OSError, smtplib.SMTPException) as exc:
            log.error("mail to %s failed: %s", message.to, type(exc).__name__)
            return False
        return True

    def _compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        # One line: a subject quotes a workspace's name, and a header takes no line break.
        mail["Subject"] = " ".join(message.subject.split())
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.body)
        return mail

    @staticmethod
    def _deliver(server: SmtpServer, mail: EmailMessage) -> None:
        context = ssl.create_default_context()
        if server.implicit_tls:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port,
                                                        timeout=TIMEOUT_SECONDS, context=context)
        else:
            connection = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
        with connection:
            connection.ehlo()
            if not server.implicit_tls:
                if connection.has_extn("starttls"):
                    connection.starttls(context=context)
                    connection.ehlo()
                elif not server.loopback:
                    raise smtplib.SMTPNotSupportedError("the SMTP server offers no STARTTLS")
            if server.username:
                connection.login(server.username, server.password or "")
            connection.send_message(mail)
