"""E-mail notifier: sends each notification over SMTP, encrypted with STARTTLS or implicit TLS.

Holds the notifier and the plain-text rendering of a notification. It must not send credentials
over an unencrypted connection, reach private hosts unless the operator allows it
(``codex32.outbound``), or put the SMTP password in a log line, a repr or an error message.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any, cast

from codex32.plugins.api import (
    CheckedURL,
    ConfigInvalid,
    HealthResult,
    Notification,
    Notifier,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
    UnsafeURL,
    check_url,
    create_connection,
    hookimpl,
    resolve_url,
)

__version__ = "0.1.0"
__all__ = ["EmailNotifier", "register_notifiers", "render_subject", "render_text"]

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "[Codex-32] {event}"
_PLACEHOLDER = re.compile(r"\{(event|workspace_id|id)\}")
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[?[0-9A-Fa-f:.]+\]?")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
_LINE_BREAKS = re.compile(r"[\r\n\t]+")
_MAX_VALUE_CHARS = 500


def render_subject(template: str, notification: Notification) -> str:
    """The subject line: ``{event}``, ``{workspace_id}`` and ``{id}`` are replaced.

    Plain substitution on purpose: ``str.format`` would let a template reach attributes.
    """
    fields = {"event": notification.event, "workspace_id": notification.workspace_id,
              "id": notification.id}
    subject = _PLACEHOLDER.sub(lambda match: fields[match.group(1)], template)
    return _LINE_BREAKS.sub(" ", subject).strip()[:250]


def render_text(notification: Notification) -> str:
    """A plain-text body: a header block, one line per payload value, then the JSON."""
    lines = [
        f"Event: {notification.event}",
        f"Workspace: {notification.workspace_id}",
    ]
    if notification.id:
        lines.append(f"Notification: {notification.id}")
    lines.append("")
    flat = list(_flatten(notification.payload)) if notification.payload else []
    lines.extend(f"{key}: {value}" for key, value in flat)
    if not flat:
        lines.append("(no payload)")
    document = {"id": notification.id, "event": notification.event,
                "workspace_id": notification.workspace_id, "payload": notification.payload}
    lines += ["", "-- JSON --", json.dumps(document, indent=2, ensure_ascii=False,
                                           sort_keys=True)]
    return "\n".join(lines) + "\n"


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``("a.b", "1")`` pairs for nested dicts; lists and scalars are shown as JSON."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    shown = _LINE_BREAKS.sub(" ", shown)
    if len(shown) > _MAX_VALUE_CHARS:
        shown = shown[:_MAX_VALUE_CHARS] + "…"
    yield prefix or "value", shown


class _PinnedSMTP(smtplib.SMTP):
    """Connects to the addresses ``codex32.outbound`` checked, not to a fresh DNS answer.

    The host name is still what STARTTLS verifies the certificate against.
    """

    def __init__(self, checked: CheckedURL, **options: Any) -> None:
        self.checked = checked
        super().__init__(checked.host, checked.port or 0, **options)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib keeps the (host, port) it was given, typed loosely.
        source = cast(tuple[str, int] | None, self.source_address)
        return create_connection(self.checked, timeout, source)


class _PinnedSMTPSSL(smtplib.SMTP_SSL, _PinnedSMTP):
    """SMTP_SSL._get_socket wraps what super()._get_socket returns: the pinned socket."""

    def __init__(self, checked: CheckedURL, **options: Any) -> None:
        self.checked = checked
        smtplib.SMTP_SSL.__init__(self, checked.host, checked.port or 0, **options)


class EmailNotifier(Notifier):
    """Sends a plain-text e-mail (with the notification's JSON) to a list of addresses."""

    id = "email"
    title = "E-mail"
    description = (
        "Sends each notification as a plain-text e-mail through your SMTP server, over "
        "STARTTLS (port 587) or implicit TLS (port 465)."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "minLength": 1, "maxLength": 253,
                     "description": "SMTP server host name or IP address."},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 587},
            "starttls": {"type": "boolean", "default": True,
                         "description": "Upgrade the connection with STARTTLS; refuse to "
                                        "continue if the server does not offer it."},
            "use_ssl": {"type": "boolean", "default": False,
                        "description": "Implicit TLS from the first byte (usually port 465); "
                                       "when true, starttls is ignored."},
            "username": {"type": "string", "maxLength": 254,
                         "description": "Log in with this name and the password secret."},
            "from_address": {"type": "string", "format": "email", "maxLength": 254},
            "to_addresses": {"type": "array", "minItems": 1, "maxItems": 50,
                             "items": {"type": "string", "format": "email", "maxLength": 254}},
            "subject_template": {"type": "string", "maxLength": 200, "default": DEFAULT_SUBJECT,
                                 "description": "{event}, {workspace_id} and {id} are "
                                                "replaced."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120,
                                "default": 10},
            "local_hostname": {"type": "string", "maxLength": 253,
                               "description": "Name sent with EHLO (default: this host's "
                                              "name)."},
        },
        "required": ["host", "from_address", "to_addresses"],
        "additionalProperties": False,
    }
    secrets = ("password",)
    capabilities = frozenset({"email", "tls"})

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.validate_config(self.config)
        config = self.config
        self._host: str = config["host"]
        self._port = int(config.get("port", 587))
        self._use_ssl = bool(config.get("use_ssl", False))
        self._starttls = bool(config.get("starttls", True)) and not self._use_ssl
        self._username: str | None = config.get("username") or None
        self._from: str = config["from_address"]
        self._to: list[str] = list(config["to_addresses"])
        self._subject_template: str = config.get("subject_template", DEFAULT_SUBJECT)
        self._timeout = float(config.get("timeout_seconds", 10))
        # Not socket.getfqdn(), smtplib's default: a reverse DNS lookup can stall for seconds.
        self._local_hostname: str = config.get("local_hostname") or socket.gethostname()

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Raise ``ConfigInvalid`` for a refused host, bad addresses or plaintext credentials."""
        errors: dict[str, list[str]] = {}
        host = config.get("host")
        if not isinstance(host, str) or not host:
            errors["host"] = ["required"]
        elif not _HOST.fullmatch(host):
            errors["host"] = ["must be a host name or an IP address, nothing else"]
        else:
            try:
                check_url(_smtp_url(host, int(config.get("port", 587))), schemes=("smtp",),
                          resolve=False)
            except UnsafeURL as exc:
                errors["host"] = [str(exc)]
        name = config.get("local_hostname")
        if name and not (isinstance(name, str) and _HOST.fullmatch(name)):
            # smtplib sends it in the EHLO line: a line break there ends the command and
            # smtplib refuses it at every send, so the configuration could never deliver.
            errors["local_hostname"] = ["must be a host name or an address literal "
                                        "([192.0.2.1]), nothing else"]
        sender = config.get("from_address")
        if not isinstance(sender, str) or not _ADDRESS.fullmatch(sender):
            errors["from_address"] = ["must be one e-mail address"]
        recipients = config.get("to_addresses")
        if not isinstance(recipients, list) or not recipients:
            errors["to_addresses"] = ["at least one e-mail address is required"]
        elif bad := [r for r in recipients if not isinstance(r, str)
                     or not _ADDRESS.fullmatch(r)]:
            errors["to_addresses"] = [f"not an e-mail address: {r!r}" for r in bad]
        encrypted = config.get("use_ssl", False) or config.get("starttls", True)
        if config.get("username") and not encrypted:
            errors["username"] = ["logging in needs starttls or use_ssl: the password would "
                                  "cross the network unencrypted"]
        if errors:
            first = next(iter(errors.items()))
            raise ConfigInvalid(f"e-mail notifier {first[0]}: {first[1][0]}", errors)

    def notify(self, notification: Notification) -> None:
        """Send one e-mail to every recipient, or raise."""
        message = self._message(notification)
        with self._session() as smtp:
            refused = smtp.send_message(message)
        if refused:
            # Delivered to the others: raising would make the queue send it to them again.
            log.warning("e-mail %s: %s refused %d recipient(s): %s", message["X-Codex32-Delivery"],
                        self._host, len(refused), ", ".join(sorted(refused)))

    def health_check(self) -> HealthResult:
        """Connect, negotiate TLS and log in, then say NOOP. Sends no e-mail."""
        started = time.perf_counter()
        try:
            with self._session() as smtp:
                code, _ = smtp.noop()
        except ProviderError as exc:
            return HealthResult(ok=False, detail=str(exc))
        tls = "implicit TLS" if self._use_ssl else "STARTTLS" if self._starttls else "no TLS"
        login = ", logged in" if self._username else ""
        return HealthResult(ok=code == 250, detail=f"{self._host}:{self._port} with {tls}{login}",
                            latency_ms=(time.perf_counter() - started) * 1000)

    def _message(self, notification: Notification) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = render_subject(self._subject_template, notification)
        message["From"] = self._from
        message["To"] = ", ".join(self._to)
        message["Date"] = email.utils.formatdate(usegmt=True)
        # With a domain, make_msgid does not look up this host's name.
        message["Message-ID"] = email.utils.make_msgid(domain=self._from.rpartition("@")[2])
        message["X-Codex32-Event"] = _LINE_BREAKS.sub(" ", notification.event)[:200]
        message["X-Codex32-Delivery"] = notification.id or uuid.uuid4().hex
        message.set_content(render_text(notification))
        return message

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        """An SMTP session, encrypted and logged in as configured; errors become plugin errors."""
        where = f"{self._host}:{self._port}"
        try:
            target = resolve_url(_smtp_url(self._host, self._port), schemes=("smtp",))
        except UnsafeURL as exc:
            raise ProviderError(f"SMTP host refused: {exc}") from None
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            # Both connect in the constructor and read the server's greeting.
            if self._use_ssl:
                smtp = _PinnedSMTPSSL(target, local_hostname=self._local_hostname,
                                      timeout=self._timeout, context=context)
            else:
                smtp = _PinnedSMTP(target, local_hostname=self._local_hostname,
                                   timeout=self._timeout)
            smtp.ehlo()
            if self._starttls:
                if not smtp.has_extn("starttls"):
                    raise ProviderError(f"{where} does not offer STARTTLS; refusing to "
                                        "continue unencrypted")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._username:
                smtp.login(self._username, self.secret("password") or "")
            yield smtp
            smtp.quit()
        except smtplib.SMTPAuthenticationError as exc:
            # from None: the chained exception is the server's reply, kept out on purpose.
            raise ProviderAuthError(f"{where} rejected the credentials of the configured "
                                    f"username ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError:
            raise ProviderError(f"{where} does not offer SMTP AUTH") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise ProviderError(f"{where} refused every recipient: "
                                f"{', '.join(sorted(exc.recipients))}") from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error.decode(errors="replace")[:200] if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)[:200]
            raise ProviderError(f"{where} answered {exc.smtp_code}: {reply}") from None
        except ssl.SSLCertVerificationError as exc:
            raise ProviderError(f"{where}: TLS certificate rejected: "
                                f"{exc.verify_message}") from None
        except (OSError, smtplib.SMTPException) as exc:
            # smtplib reports a read timeout as SMTPServerDisconnected caused by TimeoutError.
            if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
                raise ProviderTimeout(f"{where} did not answer within {self._timeout:g}s"
                                      ) from None
            raise ProviderError(f"{where}: {type(exc).__name__}: {exc}") from None
        finally:
            if smtp is not None:
                smtp.close()


def _smtp_url(host: str, port: int) -> str:
    """An ``smtp://`` URL for ``codex32.outbound`` to check."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"smtp://{shown}:{port}"


@hookimpl
def register_notifiers(register):
    """Provide the e-mail notifier."""
    register(EmailNotifier)
