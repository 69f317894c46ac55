"""SlackNotifier passes the kit's notifier suite against the local stand-in for Slack."""

from __future__ import annotations

import json

import pytest
from codex32_slack import SlackNotifier

from codex32.plugins.api import (
    Notification,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.testing import ErrorCase, NotifierConformance

TOKEN = "Xs3cr3tT0k3n"  # the secret part of the stand-in's URL (see conftest.py)


class TestSlackNotifier(NotifierConformance):
    plugin_class = SlackNotifier
    entry_point = "slack"

    @pytest.fixture(autouse=True)
    def backend(self, receiver, closed_port: int, silent_port: int) -> None:
        self.receiver, self.closed_port, self.silent_port = receiver, closed_port, silent_port
        self.plugin_config = {"max_attempts": 1, "timeout_seconds": 5}
        self.plugin_secrets = {"webhook_url": receiver.url}

    def outbound_target(self, host: str, port: int) -> tuple[dict, dict]:
        return {}, {"webhook_url": f"https://{host}:{port}/services/T0/B0/{TOKEN}"}

    def secret_markers(self) -> list[str]:
        # The whole URL is the secret; its token part must not show either.
        return [*super().secret_markers(), TOKEN]

    def delivered(self, notification: Notification) -> bool:
        return any(notification.id in json.dumps(json.loads(request.body))
                   for request in self.receiver.requests)

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("a revoked webhook", ProviderAuthError,
                      arrange=lambda: self.receiver.answer(403, b"invalid_token")),
            ErrorCase("a 429 with Retry-After", ProviderRateLimited, retry_after=30,
                      arrange=lambda: self.receiver.answer(429, Retry_After="30")),
            ErrorCase("a 500", ProviderError, arrange=lambda: self.receiver.answer(500)),
            ErrorCase("nothing listening", ProviderError, secrets={
                "webhook_url": f"http://127.0.0.1:{self.closed_port}/services/T0/B0/{TOKEN}"}),
        ]

    def timeout_case(self) -> ErrorCase:
        return ErrorCase("a server that never answers", ProviderTimeout, within=2,
                         config={"timeout_seconds": 0.3}, secrets={
                             "webhook_url": f"http://127.0.0.1:{self.silent_port}/services/"
                                            f"T0/B0/{TOKEN}"})
