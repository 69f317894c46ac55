"""The workspace's LLM fallback chain through the real SDKs against local fake servers, and
how provider failures become API errors (502, 504, 429 with Retry-After)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from codex32.db import db, tenancy
from codex32.errors import BadGateway, GatewayTimeout, RateLimited
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import llm
from codex32.testing.fake_anthropic import FakeAnthropic
from codex32.testing.fake_openai import FakeOpenAI

REQUEST = ChatRequest(messages=(Message("user", "Describe a bot that checks a website"),),
                      timeout=5)


@pytest.fixture()
def servers():
    with FakeOpenAI(api_key="sk-o") as openai_server, FakeAnthropic(api_key="sk-a") as anthropic:
        yield openai_server, anthropic


@pytest.fixture()
def chained(tenant, servers):
    openai_server, anthropic = servers
    tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": openai_server.url, "timeout": 2}, "secrets": {"api_key": "sk-o"}})
    tenant.call("PUT", "/api/v1/providers/llm/anthropic", json={
        "config": {"base_url": anthropic.url, "timeout": 2}, "secrets": {"api_key": "sk-a"}})
    tenant.call("PATCH", "/api/v1/workspace",
                json={"settings": {"llm_fallback": ["openai", "anthropic"]}})
    return tenant


def _complete(app, tenant, request=REQUEST):
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            candidates = llm.chain(db.session, tenant.workspace_id)
            db.session.commit()  # the caller's transaction ends before the providers are called
            return llm.complete(candidates, request)
        finally:
            tenancy.unbind()


def _tokens(provider: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "llm_tokens":
            total += sum(s.value for s in metric.samples
                         if s.name == "llm_tokens_total" and s.labels["provider"] == provider)
    return total


def test_first_provider_answers_with_real_usage(app, chained, servers):
    before = _tokens("openai")
    result = _complete(app, chained)
    assert result.text and result.usage.input_tokens > 0
    assert _tokens("openai") == before + result.usage.total_tokens
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1


def test_a_failing_provider_hands_over_to_the_next(app, chained, servers):
    openai_server, anthropic = servers
    openai_server.enqueue_error(500, "upstream broke")
    result = _complete(app, chained)
    assert result.model.startswith("claude")
    assert len(anthropic.requests_to("/v1/messages")) == 1


def test_all_providers_rate_limited_is_429_with_retry_after(app, chained, servers):
    openai_server, anthropic = servers
    openai_server.enqueue_error(429, "slow down", retry_after=7)
    anthropic.enqueue(429, {"type": "error", "error": {"type": "rate_limit_error",
                                                          "message": "slow"}},
                      headers={"retry-after": "7"})
    with pytest.raises(RateLimited) as caught:
        _complete(app, chained)
    assert caught.value.headers["Retry-After"] == "7"


def test_provider_errors_are_502(app, chained, servers):
    openai_server, anthropic = servers
    openai_server.enqueue_error(500, "broken")
    anthropic.enqueue(529, {"type": "error", "error": {"type": "overloaded_error",
                                                          "message": "overloaded"}})
    with pytest.raises(BadGateway):
        _complete(app, chained)


def test_a_slow_provider_is_a_504(app, tenant, servers):
    openai_server, _ = servers
    tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": openai_server.url, "timeout": 0.3},
        "secrets": {"api_key": "sk-o"}})
    tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm_fallback": ["openai"]}})
    openai_server.enqueue(200, {}, delay=2)
    with pytest.raises(GatewayTimeout):
        _complete(app, tenant)


def test_without_a_chain_the_default_builtin_answers_offline(app, tenant):
    result = _complete(app, tenant, ChatRequest(
        messages=(Message("user", "every day at 9 email me the RSS feed digest"),),
        json_mode=True))
    assert result.model and result.usage.total_tokens == 0
    assert "schedule" in result.text
