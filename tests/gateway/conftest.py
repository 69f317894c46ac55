"""Fixtures of the gateway's tests: the real SDKs against local fakes, a workspace whose
route goes openai → anthropic, and a direct call into the gateway as a service would."""

from __future__ import annotations

from typing import Any

import pytest

from codex32.db import db, tenancy
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import gateway
from codex32.testing.fake_anthropic import FakeAnthropic
from codex32.testing.fake_openai import FakeOpenAI


def ask(text: str = "Describe a bot that checks a website", **options: Any) -> ChatRequest:
    """A one-message chat request."""
    options.setdefault("timeout", 5)
    return ChatRequest(messages=(Message("user", text),), **options)


@pytest.fixture()
def servers():
    with FakeOpenAI(api_key="sk-o") as openai_server, FakeAnthropic(api_key="sk-a") as anthropic:
        yield openai_server, anthropic


def configure(tenant, servers, *, llm: dict[str, Any] | None = None,
              timeout: float = 2) -> None:
    openai_server, anthropic = servers
    for provider, server, key in (("openai", openai_server, "sk-o"),
                                  ("anthropic", anthropic, "sk-a")):
        response = tenant.call("PUT", f"/api/v1/providers/llm/{provider}", json={
            "config": {"base_url": server.url, "timeout": timeout},
            "secrets": {"api_key": key}})
        assert response.status_code in (200, 201), response.json
    settings: dict[str, Any] = {"llm_fallback": ["openai", "anthropic"]}
    if llm is not None:
        settings["llm"] = llm
    response = tenant.call("PATCH", "/api/v1/workspace", json={"settings": settings})
    assert response.status_code == 200, response.json


@pytest.fixture()
def chained(tenant, servers):
    configure(tenant, servers, llm={"aliases": {
        "fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
        "smart": ["anthropic/claude-sonnet-4-6", "openai/gpt-4o"]}})
    return tenant


def chat(app, tenant, request: ChatRequest | None = None, **options: Any
         ) -> gateway.GatewayResult:
    """Call the gateway as a service does, with the workspace bound."""
    options.setdefault("purpose", "builder")
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            return gateway.chat(tenant.workspace_id, request or ask(), **options)
        finally:
            db.session.remove()
            tenancy.unbind()
