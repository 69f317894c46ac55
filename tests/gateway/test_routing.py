"""The router through the real SDKs against local fakes with injected failures: one retry
policy (the SDKs never retry), fallback along the chain, aliases, and one deadline."""

from __future__ import annotations

import time

import pytest

from codex32.errors import BadGateway, GatewayTimeout, Invalid, RateLimited
from codex32.services.gateway.router import ContentRefused
from tests.gateway.conftest import ask, chat, configure, ledger_rows


def test_the_first_deployment_answers_and_the_result_names_it(app, chained, servers):
    result = chat(app, chained)
    assert (result.provider, result.model) == ("openai", "gpt-4o-mini")
    assert result.attempts == [] and result.usage.input_tokens > 0
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1


def test_a_429_within_the_deadline_is_retried_after_retry_after(app, chained, servers):
    servers[0].enqueue_failure("rate_limit", retry_after=1)
    started = time.monotonic()
    result = chat(app, chained, ask(model="fast"), deadline_seconds=10)
    assert time.monotonic() - started >= 1.0
    assert result.provider == "openai"
    assert [(a.provider, a.kind, a.status) for a in result.attempts] == [
        ("openai", "rate_limited", 429)]
    assert len(servers[0].requests_to("/v1/chat/completions")) == 2  # no SDK retry
    assert not servers[1].requests_to("/v1/messages")


def test_a_429_whose_wait_exceeds_the_deadline_falls_back_at_once(app, chained, servers):
    servers[0].enqueue_failure("rate_limit", retry_after=30)
    started = time.monotonic()
    result = chat(app, chained, ask(model="fast"), deadline_seconds=10)
    assert time.monotonic() - started < 5
    assert (result.provider, result.model) == ("anthropic", "claude-haiku-4-5")
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1


@pytest.mark.parametrize("failure", ["server", "overloaded"])
def test_a_5xx_or_529_is_retried_on_the_same_deployment(app, chained, servers, failure):
    servers[0].enqueue_failure(failure)
    result = chat(app, chained, ask(model="fast"))
    assert result.provider == "openai" and result.attempts[0].kind in ("server", "overloaded")
    assert len(servers[0].requests_to("/v1/chat/completions")) == 2


def test_anthropic_529_is_overloaded_and_retried(app, chained, servers):
    servers[1].enqueue_failure("overloaded")
    result = chat(app, chained, ask(model="smart"))
    assert result.provider == "anthropic"
    assert [(a.kind, a.status) for a in result.attempts] == [("overloaded", 529)]


def test_repeated_5xx_falls_back_to_the_next_deployment(app, chained, servers):
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")
    result = chat(app, chained, ask(model="fast"))
    assert (result.provider, result.model) == ("anthropic", "claude-haiku-4-5")
    assert [a.provider for a in result.attempts] == ["openai", "openai"]


def test_a_context_length_error_moves_to_the_next_model_without_retrying(app, chained,
                                                                          servers):
    servers[1].enqueue_failure("context_length")
    result = chat(app, chained, ask(model="smart"))
    assert (result.provider, result.model) == ("openai", "gpt-4o")
    assert [(a.provider, a.kind) for a in result.attempts] == [("anthropic", "context_length")]
    assert len(servers[1].requests_to("/v1/messages")) == 1


def test_context_length_on_every_model_is_a_422(app, chained, servers):
    servers[0].enqueue_failure("context_length")
    servers[1].enqueue_failure("context_length")
    with pytest.raises(Invalid, match="too long"):
        chat(app, chained, ask(model="fast"))


def test_a_401_is_not_retried_nor_passed_on_and_names_the_provider(app, chained, servers):
    servers[0].enqueue_failure("auth")
    with pytest.raises(BadGateway, match="openai rejected the configured credentials") as caught:
        chat(app, chained, ask(model="fast"))
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1
    assert not servers[1].requests_to("/v1/messages")
    assert caught.value.errors["attempts"][0]["error"] == "auth"


def test_a_content_policy_refusal_stops_and_names_the_provider(app, chained, servers):
    servers[0].enqueue_error(400, "Your request was rejected by the safety system.",
                             code="content_policy_violation")
    with pytest.raises(ContentRefused, match="openai refused"):
        chat(app, chained, ask(model="fast"))
    assert not servers[1].requests_to("/v1/messages")


@pytest.mark.parametrize("status", [400, 404])
def test_a_request_the_provider_calls_invalid_is_a_422_not_a_bad_gateway(app, chained, servers,
                                                                         status):
    """The request is wrong, not the provider: a 502 would tell a client (the openai SDK
    does by default) to send it again."""
    servers[0].enqueue_error(status, "Invalid value for 'max_tokens'.")
    with pytest.raises(Invalid, match=rf"openai refused the request as invalid \({status}\)"
                       ) as caught:
        chat(app, chained, ask(model="fast"))
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1  # neither retried
    assert not servers[1].requests_to("/v1/messages")  # nor sent to the next deployment
    assert caught.value.errors["attempts"][0]["error"] == "invalid_request"


def test_one_deadline_bounds_every_attempt(app, tenant, servers):
    from tests.gateway.conftest import configure
    configure(tenant, servers, timeout=30)
    for server in servers:
        for _ in range(4):
            server.enqueue_failure("timeout")
    started = time.monotonic()
    with pytest.raises(GatewayTimeout):
        chat(app, tenant, ask(), deadline_seconds=1.5)
    assert time.monotonic() - started < 3


def test_every_deployment_rate_limited_is_429_with_retry_after(app, chained, servers):
    for _ in range(2):
        servers[0].enqueue_failure("rate_limit", retry_after=7)
        servers[1].enqueue_failure("rate_limit", retry_after=7)
    with pytest.raises(RateLimited) as caught:
        chat(app, chained, ask(model="fast"), deadline_seconds=5)
    assert caught.value.headers["Retry-After"] == "7"


def test_provider_slash_model_and_bare_model_names_route_directly(app, chained, servers):
    assert chat(app, chained, ask(model="anthropic/claude-opus-4-7")).model == "claude-opus-4-7"
    bare = chat(app, chained, ask(model="gpt-4o"))
    assert (bare.provider, bare.model) == ("openai", "gpt-4o")


def test_a_request_naming_an_uninstalled_provider_is_a_422(app, chained):
    with pytest.raises(Invalid, match="nosuch"):
        chat(app, chained, ask(model="nosuch/model-x"))


def test_without_a_chain_the_builtin_answers_offline_at_zero_cost(app, tenant):
    from codex32.plugins.interfaces import ChatRequest, Message
    result = chat(app, tenant, ChatRequest(
        messages=(Message("user", "every day at 9 email me the RSS feed digest"),),
        json_mode=True))
    assert result.provider == "builtin" and result.cost_usd == 0
    assert "schedule" in result.text


def test_a_deadline_of_zero_calls_no_provider(app, chained, servers):
    """A caller with no time left (a bot's call read as its run ends) gets a timeout; 0 was
    falsy and taken as "no deadline of the caller's", the gateway's full one."""
    with pytest.raises(GatewayTimeout):
        chat(app, chained, ask(model="fast"), purpose="bot", deadline_seconds=0)
    assert not servers[0].requests_to("/v1/chat/completions")
    assert not servers[1].requests_to("/v1/messages")


def test_a_provider_repeated_in_llm_fallback_is_tried_once(app, tenant, servers):
    """Not a bug: routing.resolved gives each deployment once (a regression test)."""
    configure(tenant, servers)
    response = tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"llm_fallback": ["openai", "openai", "anthropic", "openai"]}})
    assert response.status_code == 200, response.json
    servers[0].enqueue_failure("context_length")
    result = chat(app, tenant)
    assert result.provider == "anthropic"
    assert [a.provider for a in result.attempts] == ["openai"]
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1


def test_a_chat_whose_last_attempt_timed_out_is_recorded_as_a_timeout(app, database, chained,
                                                                       servers):
    """Its answer is a 504 (the deadline passed, or the chain ended on a provider that did
    not answer in time); the row said ``error`` when the chain ended before the deadline's
    check, though the same request cut one check later said ``timeout``."""
    servers[0].enqueue_failure("timeout")
    with pytest.raises(GatewayTimeout):
        chat(app, chained, ask(model="openai/gpt-4o-mini"), deadline_seconds=1)
    [row] = ledger_rows(database, chained.workspace_id, "status, error")
    assert (row["status"], row["error"]) == ("timeout", "timeout"), row


def test_a_chat_cut_at_its_deadline_is_charged_its_prompt(app, database, chained, servers):
    """As a stream cut at its deadline is: the provider had the prompt."""
    servers[0].enqueue_failure("timeout")
    with pytest.raises(GatewayTimeout):
        chat(app, chained, ask(model="openai/gpt-4o-mini"), deadline_seconds=1)
    [row] = ledger_rows(database, chained.workspace_id,
                        "error, provider, input_tokens, output_tokens, cost_usd")
    assert row["error"] == "timeout" and row["provider"] == "openai", row
    assert row["input_tokens"] > 0 and row["output_tokens"] == 0 and row["cost_usd"] > 0, row
