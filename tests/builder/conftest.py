"""Fixtures of the builder's tests: a workspace whose model is the fake OpenAI server, driven
through the real openai SDK and scripted per test (tests/builder/scripting.py)."""

from __future__ import annotations

import pytest

from codex32.testing.fake_openai import FakeOpenAI
from tests.builder.scripting import ScriptedModel


@pytest.fixture()
def scripted_llm(tenant):
    """``tenant``'s LLM is the fake OpenAI server, scripted per test (builder-generate's tests)."""
    with FakeOpenAI(api_key="sk-b") as server:
        response = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
            "config": {"base_url": server.url, "timeout": 5, "model": "gpt-4o-mini"},
            "secrets": {"api_key": "sk-b"}})
        assert response.status_code in (200, 201), response.json
        response = tenant.call("PATCH", "/api/v1/workspace",
                               json={"settings": {"llm_fallback": ["openai"]}})
        assert response.status_code == 200, response.json
        yield ScriptedModel(server)
