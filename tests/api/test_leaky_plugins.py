"""A third-party plugin whose errors carry its own secret: the platform takes the secret out
of every message it shows (JSON error, Server-Sent Events, the OpenAI-compatible stream, a
configuration refused by the constructor), whatever the plugin wrote."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codex32 import runtime
from codex32.plugins.api import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ConfigInvalid,
    LLMProvider,
    ProviderError,
)
from codex32.plugins.manager import Registration

KEY = "leaky-SECRET-7f3e9a1c"


class LeakyProvider(LLMProvider):
    """Quotes its API key in every error, as a careless SDK wrapper would."""

    id = "leaky"
    title = "Leaky"
    config_schema = {"type": "object", "additionalProperties": False,
                     "properties": {"model": {"type": "string", "default": "leak-1"},
                                    "refuse": {"type": "boolean", "default": False},
                                    "crash": {"type": "boolean", "default": False}}}
    secrets = ("api_key",)

    def __init__(self, config=None, secrets=None):
        super().__init__(config, secrets)
        if self.config.get("refuse"):
            raise ConfigInvalid(f"the key {self.secret('api_key')} has no access to this model")
        if self.config.get("crash"):  # a bug, not a codex32 error: its text quotes the key
            raise KeyError(f"no account for {self.secret('api_key')}")

    def complete(self, request: ChatRequest) -> ChatResult:
        raise ProviderError(f"upstream refused the key {self.secret('api_key')}")

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        yield ChatChunk(text="partial ")
        if request.json_mode:  # a bug in the plugin's stream, not a codex32 error
            raise RuntimeError(f"socket of key {self.secret('api_key')} closed")
        raise ProviderError(f"upstream dropped the stream of key {self.secret('api_key')}")


@pytest.fixture()
def leaky(app, tenant, monkeypatch):
    registry = runtime.of(app).plugins.registry["llm"]
    monkeypatch.setitem(registry, "leaky", Registration("llm", LeakyProvider, "c32test_leaky"))
    saved = tenant.call("PUT", "/api/v1/providers/llm/leaky",
                        json={"config": {}, "secrets": {"api_key": KEY}})
    assert saved.status_code in (200, 201), saved.json
    return tenant


BODY = {"messages": [{"role": "user", "content": "hi"}], "model": "leaky/leak-1"}


def test_a_failed_chat_does_not_show_the_plugins_secret(leaky):
    response = leaky.call("POST", "/api/v1/llm/chat", json=BODY)

    assert response.status_code == 502, response.json
    assert KEY not in response.get_data(as_text=True)
    assert "[redacted]" in response.json["message"]


def test_a_stream_that_fails_midway_does_not_show_the_plugins_secret(leaky):
    response = leaky.call("POST", "/api/v1/llm/chat", json={**BODY, "stream": True})

    text = response.get_data(as_text=True)
    assert "partial" in text and "error" in text
    assert KEY not in text


def test_the_openai_compatible_stream_does_not_show_the_plugins_secret(leaky):
    response = leaky.call("POST", "/api/v1/openai/chat/completions",
                          json={**BODY, "stream": True})

    text = response.get_data(as_text=True)
    assert "partial" in text and "error" in text
    assert KEY not in text


def test_a_configuration_the_constructor_refuses_does_not_show_the_secret(leaky):
    saved = leaky.call("PUT", "/api/v1/providers/llm/leaky", json={"config": {"refuse": True}})
    assert saved.status_code in (200, 201, 422), saved.json
    for response in (saved, leaky.call("POST", "/api/v1/llm/chat", json=BODY),
                     leaky.call("POST", "/api/v1/providers/llm/leaky/test")):
        assert KEY not in response.get_data(as_text=True)


def test_a_stream_that_breaks_with_a_bug_midway_ends_with_an_error_event(leaky):
    response = leaky.call("POST", "/api/v1/llm/chat",
                          json={**BODY, "stream": True, "json_mode": True})

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "partial" in text and "event: error" in text and "RuntimeError" in text
    assert KEY not in text


def test_a_constructor_that_crashes_is_a_502_naming_the_plugin_not_a_500(leaky):
    saved = leaky.call("PUT", "/api/v1/providers/llm/leaky", json={"config": {"crash": True}})

    assert saved.status_code == 502, saved.json
    assert saved.json["message"] == "leaky failed unexpectedly"
    assert KEY not in saved.get_data(as_text=True)
