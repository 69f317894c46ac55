"""OpenAIProvider and OpenAIEmbedder pass the kit's suites against the fake OpenAI API."""

from __future__ import annotations

import pytest
from codex32_openai import OpenAIEmbedder, OpenAIProvider

from codex32.plugins.api import (
    AUTH,
    CONNECTION,
    TIMEOUT,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
)
from codex32.testing import (
    UPSTREAM_MARKER,
    EmbedderConformance,
    ErrorCase,
    LLMProviderConformance,
    scripted_failures,
)
from codex32.testing.fake_openai import FakeOpenAI


class OpenAIBackend:
    """The fake server as backend, and the failures it can be scripted to answer with."""

    entry_point = "openai"
    sdk_loggers = ("openai", "httpx", "httpcore", "httpx2", "httpcore2")

    @pytest.fixture(autouse=True)
    def backend(self, server: FakeOpenAI, api_key: str) -> None:
        self.server = server
        # A saved max_retries is ignored: the router is the one retry policy.
        self.plugin_config = {"base_url": server.url, "timeout": 5, "max_retries": 3}
        self.plugin_secrets = {"api_key": api_key}

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("a wrong key", ProviderAuthError, kind=AUTH, status=401,
                      secrets={"api_key": "sk-wrong-c0dex32-LEAKCHECK-0b1c"}),
            ErrorCase("nothing listening", ProviderError, kind=CONNECTION,
                      config={"base_url": "http://127.0.0.1:9/v1"}),
            *scripted_failures(self.server),
        ]

    def backend_requests(self) -> int:
        return len(self.server.requests)

    def timeout_case(self) -> ErrorCase:
        return ErrorCase("an answer held back 5 s", ProviderTimeout, within=2, kind=TIMEOUT,
                         config={"timeout": 0.3},
                         arrange=lambda: self.server.enqueue(json={}, delay=5))

    def redirect_case(self, location: str) -> ErrorCase:
        return ErrorCase("a redirect", ProviderError, arrange=lambda: self.server.enqueue(
            307, headers={"Location": location}))

    def upstream_error_case(self) -> ErrorCase:
        return ErrorCase("a 500 quoting the server", ProviderError,
                         arrange=lambda: self.server.enqueue(500, {"error": {
                             "message": UPSTREAM_MARKER, "code": UPSTREAM_MARKER}}))


class TestOpenAIProvider(OpenAIBackend, LLMProviderConformance):
    plugin_class = OpenAIProvider


class TestOpenAIEmbedder(OpenAIBackend, EmbedderConformance):
    plugin_class = OpenAIEmbedder

    @pytest.fixture(autouse=True)
    def dimensions(self, backend: None) -> None:
        self.plugin_config = {**self.plugin_config, "dimensions": 8}
