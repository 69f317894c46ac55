"""WebhookNotifier passes the kit's notifier suite against the local receiver."""

from __future__ import annotations

import json

import pytest
from codex32_webhook import WebhookNotifier

from codex32.plugins.api import (
    Notification,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.testing import ErrorCase, NotifierConformance


class TestWebhookNotifier(NotifierConformance):
    plugin_class = WebhookNotifier
    entry_point = "webhook"
    plugin_secrets = {"signing_secret": "whsec_c0dex32-LEAKCHECK-8e2f41"}

    @pytest.fixture(autouse=True)
    def backend(self, receiver, closed_port: int, silent_port: int) -> None:
        self.receiver, self.closed_port, self.silent_port = receiver, closed_port, silent_port
        self.plugin_config = {"url": receiver.url, "max_attempts": 1, "timeout_seconds": 5}

    def delivered(self, notification: Notification) -> bool:
        return any(json.loads(request.body)["id"] == notification.id
                   for request in self.receiver.requests)

    def invalid_configs(self) -> list[dict]:
        return [*super().invalid_configs(), {"url": "ftp://example.com/hook"}]

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("the receiver refuses the signature", ProviderAuthError,
                      arrange=lambda: self.receiver.answer(401)),
            ErrorCase("a 429 with Retry-After", ProviderRateLimited, retry_after=9,
                      arrange=lambda: self.receiver.answer(429, Retry_After="9")),
            ErrorCase("a 500", ProviderError, arrange=lambda: self.receiver.answer(500)),
            ErrorCase("nothing listening", ProviderError,
                      config={"url": f"http://127.0.0.1:{self.closed_port}/hook"}),
        ]

    def timeout_case(self) -> ErrorCase:
        return ErrorCase("a receiver that never answers", ProviderTimeout, within=2,
                         config={"url": f"http://127.0.0.1:{self.silent_port}/hook",
                                 "timeout_seconds": 0.3})
