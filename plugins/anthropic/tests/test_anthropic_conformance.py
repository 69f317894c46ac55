"""AnthropicProvider passes the kit's LLM provider suite against the fake Anthropic API."""

from __future__ import annotations

import pytest
from codex32_anthropic import AnthropicProvider

from codex32.plugins.api import (
    AUTH,
    CONNECTION,
    TIMEOUT,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
)
from codex32.testing import UPSTREAM_MARKER, ErrorCase, LLMProviderConformance, scripted_failures
from codex32.testing.fake_anthropic import FakeAnthropic


class TestAnthropicProvider(LLMProviderConformance):
    plugin_class = AnthropicProvider
    entry_point = "anthropic"
    sdk_loggers = ("anthropic", "httpx", "httpcore", "httpx2", "httpcore2")

    @pytest.fixture(autouse=True)
    def backend(self, server: FakeAnthropic, api_key: str) -> None:
        self.server = server
        # A saved max_retries is ignored: the router is the one retry policy.
        self.plugin_config = {"base_url": server.url, "timeout": 5, "max_retries": 3}
        self.plugin_secrets = {"api_key": api_key}

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("a wrong key", ProviderAuthError, kind=AUTH, status=401,
                      secrets={"api_key": "sk-ant-wrong-c0dex32-LEAKCHECK-77aa"}),
            ErrorCase("nothing listening", ProviderError, kind=CONNECTION,
                      config={"base_url": "http://127.0.0.1:9"}),
            *scripted_failures(self.server, retry_after=12),
        ]

    def backend_requests(self) -> int:
        return len(self.server.requests)

    def timeout_case(self) -> ErrorCase:
        return ErrorCase("an answer held back 5 s", ProviderTimeout, within=2, kind=TIMEOUT,
                         config={"timeout": 0.3},
                         arrange=lambda: self.server.enqueue(json={}, delay=5))

    def redirect_case(self, location: str) -> ErrorCase:
        return ErrorCase("a redirect", ProviderError, arrange=lambda: self.server.enqueue(
            302, headers={"Location": location}))

    def upstream_error_case(self) -> ErrorCase:
        return ErrorCase("a 400 quoting the API", ProviderError,
                         arrange=lambda: self.server.enqueue(400, {"type": "error", "error": {
                             "type": UPSTREAM_MARKER, "message": UPSTREAM_MARKER}}))
