"""Fixtures for the Anthropic plugin's tests: a fake Anthropic API and providers wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from codex32_anthropic import AnthropicProvider

from codex32.testing.fake_anthropic import FakeAnthropic

# Distinctive, so a leak into a message, a repr or a log line cannot hide.
API_KEY = "sk-ant-test-c0dex32-LEAKCHECK-5e8d21c7b0f4"


@pytest.fixture
def api_key() -> str:
    """The key the fake accepts and the providers are given."""
    return API_KEY


@pytest.fixture
def server() -> Iterator[FakeAnthropic]:
    """A fake Anthropic API that only accepts API_KEY."""
    with FakeAnthropic(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def make_provider(server: FakeAnthropic) -> Iterator[Callable[..., AnthropicProvider]]:
    """Build providers against the fake (no SDK retries, short timeout); closed afterwards."""
    made: list[AnthropicProvider] = []

    def make(secrets: dict[str, str] | None = None, **config: Any) -> AnthropicProvider:
        config = {"base_url": server.url, "timeout": 5, "max_retries": 0, **config}
        provider = AnthropicProvider(config, {"api_key": API_KEY} if secrets is None else secrets)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()
