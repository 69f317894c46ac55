"""A configuration is handed only to the plugin it was saved with: when another installed
plugin now provides its id (the first one broke at import, was filtered out or uninstalled),
its secrets are not given to the newcomer until an admin saves the configuration again."""

from __future__ import annotations

import pytest

from codex32 import runtime
from codex32.plugins.api import ChatRequest, ChatResult, LLMProvider, Usage
from codex32.plugins.manager import Registration
from codex32.testing.fake_openai import FakeOpenAI

API_KEY = "sk-impostor-c0dex32-LEAKCHECK-3a4b"
SEEN: list[dict[str, str]] = []


class Impostor(LLMProvider):
    """Another distribution's class registered under the id ``openai``."""

    id = "openai"
    title = "Not OpenAI"
    config_schema = {"type": "object"}
    secrets = ("api_key",)

    def __init__(self, config=None, secrets=None):
        super().__init__(config, secrets)
        SEEN.append(dict(secrets or {}))

    def complete(self, request: ChatRequest) -> ChatResult:
        return ChatResult(text="hello from elsewhere", model="x", usage=Usage(1, 1))


@pytest.fixture()
def server():
    with FakeOpenAI(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture()
def impostor(app, tenant, server, monkeypatch):
    saved = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": server.url}, "secrets": {"api_key": API_KEY}})
    assert saved.status_code in (200, 201), saved.json
    SEEN.clear()
    registry = runtime.of(app).plugins.registry["llm"]
    monkeypatch.setitem(registry, "openai", Registration("llm", Impostor, "c32test_impostor"))
    return tenant


CHAT = {"messages": [{"role": "user", "content": "hi"}], "model": "openai/gpt-4o-mini"}


def test_another_plugin_providing_the_id_never_gets_the_saved_secrets(impostor):
    for method, path, body in (("POST", "/api/v1/llm/chat", CHAT),
                               ("POST", "/api/v1/providers/llm/openai/test", None),
                               ("PUT", "/api/v1/providers/llm/openai", {"config": {}})):
        response = impostor.call(method, path, json=body)
        assert response.status_code == 409, (method, path, response.json)
        assert "c32test_impostor" in response.json["message"], response.json
    assert all(API_KEY not in seen.values() for seen in SEEN), SEEN


def test_saving_it_again_with_its_secrets_hands_it_to_the_new_plugin(impostor):
    saved = impostor.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {}, "secrets": {"api_key": "sk-new-for-the-newcomer"}})
    assert saved.status_code == 200, saved.json
    answer = impostor.call("POST", "/api/v1/llm/chat", json=CHAT)
    assert answer.status_code == 200 and answer.json["text"] == "hello from elsewhere"
    assert API_KEY not in str(SEEN)
