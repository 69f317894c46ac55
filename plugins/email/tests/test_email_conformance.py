"""EmailNotifier passes the kit's notifier suite against the local SMTP server."""

from __future__ import annotations

import pytest
from codex32_email import EmailNotifier

from codex32.plugins.api import Notification, ProviderAuthError, ProviderError, ProviderTimeout
from codex32.testing import ErrorCase, NotifierConformance

USERNAME = "notifier@example.com"
PASSWORD = "smtp-c0dex32-LEAKCHECK-6a0d93"


class TestEmailNotifier(NotifierConformance):
    plugin_class = EmailNotifier
    entry_point = "email"
    plugin_secrets = {"password": PASSWORD}

    @pytest.fixture(autouse=True)
    def backend(self, smtp_server, trust_certificate, closed_port: int,
                silent_port: int) -> None:
        self.server = smtp_server(credentials=(USERNAME, PASSWORD))
        self.closed_port, self.silent_port = closed_port, silent_port
        self.plugin_config = {"host": "localhost", "port": self.server.port,
                              "username": USERNAME, "from_address": "codex32@example.com",
                              "to_addresses": ["ops@example.com"], "timeout_seconds": 5}

    def outbound_target(self, host: str, port: int) -> tuple[dict, dict]:
        return {"host": host, "port": port}, {}

    def delivered(self, notification: Notification) -> bool:
        return any(f"X-Codex32-Delivery: {notification.id}".encode() in message.data
                   for message in self.server.messages)

    def invalid_configs(self) -> list[dict]:
        plaintext_login = {"starttls": False, "use_ssl": False}
        return [*super().invalid_configs(), plaintext_login, {"to_addresses": ["not-an-address"]},
                {"host": "smtp.example.com/path"}]

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("a wrong password", ProviderAuthError,
                      secrets={"password": "smtp-wrong-c0dex32-LEAKCHECK-11f0"}),
            ErrorCase("nothing listening", ProviderError, config={"port": self.closed_port}),
        ]

    def timeout_case(self) -> ErrorCase:
        return ErrorCase("a server that never greets", ProviderTimeout, within=2,
                         config={"port": self.silent_port, "timeout_seconds": 0.3})
