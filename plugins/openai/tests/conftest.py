"""Fixtures for the OpenAI plugin's tests: a fake OpenAI server and plugin instances wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from codex32_openai import OpenAIEmbedder, OpenAIProvider

from codex32.testing.fake_openai import FakeOpenAI

# Distinctive, so a leak into a message, a repr or a log line cannot hide.
API_KEY = "sk-test-c0dex32-LEAKCHECK-9f41b7e2a6d3"


@pytest.fixture
def api_key() -> str:
    """The key the fake accepts and the plugins are given."""
    return API_KEY


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    """A fake OpenAI API that only accepts API_KEY."""
    with FakeOpenAI(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def make_provider(server: FakeOpenAI) -> Iterator[Callable[..., OpenAIProvider]]:
    """Build providers against the fake (no SDK retries, short timeout); closed afterwards."""
    made: list[OpenAIProvider] = []

    def make(secrets: dict[str, str] | None = None, **config: Any) -> OpenAIProvider:
        config = {"base_url": server.url, "timeout": 5, "max_retries": 0, **config}
        provider = OpenAIProvider(config, {"api_key": API_KEY} if secrets is None else secrets)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def make_embedder(server: FakeOpenAI) -> Iterator[Callable[..., OpenAIEmbedder]]:
    """Build embedders against the fake, 8-dimensional unless told otherwise."""
    made: list[OpenAIEmbedder] = []

    def make(**config: Any) -> OpenAIEmbedder:
        config = {"base_url": server.url, "timeout": 5, "max_retries": 0, "dimensions": 8,
                  **config}
        embedder = OpenAIEmbedder(config, {"api_key": API_KEY})
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        embedder.close()
