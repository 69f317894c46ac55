"""OpenAIProvider through the real openai SDK against the fake OpenAI server."""

from __future__ import annotations

import json
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest
from codex32_openai import OpenAIProvider
from codex32_openai.connection import NO_KEY

from codex32.plugins.api import (
    ChatRequest,
    ConfigInvalid,
    LLMProvider,
    Message,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    Usage,
)
from codex32.testing.fake_openai import FakeOpenAI

COMPLETIONS = "/v1/chat/completions"


def chat(*texts: str, system: str | None = None, **options: Any) -> ChatRequest:
    """A chat request of user messages, with an optional system prompt first."""
    messages = [Message("system", system)] if system else []
    messages += [Message("user", text) for text in texts]
    return ChatRequest(messages=tuple(messages), **options)


def completion(text: str = "hi", *, model: str = "gpt-4o-mini", prompt_tokens: int = 11,
               completion_tokens: int = 7, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat.completion body as the API sends it."""
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": None, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def chunk(content: str | None = None, finish: str | None = None) -> tuple[None, dict[str, Any]]:
    """One chat.completion.chunk SSE event."""
    delta = {} if content is None else {"content": content}
    return None, {"id": "c", "object": "chat.completion.chunk", "created": 1,
                  "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


# --- answers -------------------------------------------------------------------------------


def test_complete_returns_text_and_the_usage_the_server_reported(make_provider, server):
    server.enqueue(json=completion("Hello there", prompt_tokens=123, completion_tokens=45))

    result = make_provider().complete(chat("hi"))

    assert result.text == "Hello there"
    assert result.usage == Usage(input_tokens=123, output_tokens=45)
    assert result.finish_reason == "stop"
    assert result.model == "gpt-4o-mini"


def test_default_answer_counts_usage_from_the_input(make_provider):
    short = make_provider().complete(chat("hi"))
    long = make_provider().complete(chat("hi " * 400))

    assert short.text == "echo: hi"
    assert short.usage.input_tokens > 0 and short.usage.output_tokens > 0
    assert long.usage.input_tokens > short.usage.input_tokens + 250


def test_request_on_the_wire_carries_model_messages_limits_and_key(make_provider, server,
                                                                  api_key):
    make_provider().complete(chat("question", system="be brief", temperature=0.7,
                                  max_tokens=50))

    sent = server.requests_to(COMPLETIONS)[-1]
    assert sent.headers["authorization"] == f"Bearer {api_key}"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == [{"role": "system", "content": "be brief"},
                                     {"role": "user", "content": "question"}]
    assert sent.json["temperature"] == 0.7
    assert sent.json["max_tokens"] == 50
    assert "response_format" not in sent.json
    assert "stream" not in sent.json


def test_request_model_overrides_the_configured_default(make_provider, server):
    result = make_provider(model="gpt-4o").complete(chat("hi", model="my-finetune"))

    assert server.requests_to(COMPLETIONS)[-1].json["model"] == "my-finetune"
    assert result.model == "my-finetune"


def test_reasoning_model_settings_change_the_wire_names(make_provider, server):
    provider = make_provider(max_tokens_param="max_completion_tokens", send_temperature=False)

    provider.complete(chat("hi", max_tokens=64))

    sent = server.requests_to(COMPLETIONS)[-1].json
    assert sent["max_completion_tokens"] == 64
    assert "max_tokens" not in sent and "temperature" not in sent


def test_output_cut_at_max_tokens_reports_length(make_provider):
    result = make_provider().complete(chat("a long question " * 20, max_tokens=3))

    assert result.finish_reason == "length"
    assert result.usage.output_tokens == 3


# --- json mode -----------------------------------------------------------------------------


def test_json_mode_sends_response_format_and_adds_the_json_hint_the_api_requires(
        make_provider, server):
    result = make_provider().complete(chat("list three colours", json_mode=True))

    sent = server.requests_to(COMPLETIONS)[-1].json
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][0]["role"] == "system"
    assert "json" in sent["messages"][0]["content"].lower()
    assert json.loads(result.text) == {"echo": "list three colours"}


def test_json_mode_keeps_messages_that_already_ask_for_json(make_provider, server):
    make_provider().complete(chat("answer in JSON please", json_mode=True))

    sent = server.requests_to(COMPLETIONS)[-1].json
    assert sent["messages"] == [{"role": "user", "content": "answer in JSON please"}]


# --- cost ----------------------------------------------------------------------------------


def test_cost_uses_the_price_table_and_prices_dated_snapshots_like_their_family(
        make_provider, server):
    prices = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}
    server.enqueue(json=completion(model="gpt-4o-mini-2024-07-18", prompt_tokens=1000,
                                   completion_tokens=2000))

    result = make_provider(prices=prices).complete(chat("hi", model="gpt-4o-mini-2024-07-18"))

    assert result.cost_usd == pytest.approx((1000 * 0.15 + 2000 * 0.60) / 1_000_000)


def test_cost_is_zero_for_a_model_the_price_table_does_not_list(make_provider):
    result = make_provider(prices={"gpt-4o": {"input": 2.5, "output": 10}}).complete(chat("hi"))

    assert result.cost_usd == 0.0


# --- streaming -----------------------------------------------------------------------------


def test_stream_assembles_the_text_and_reads_usage_from_the_final_chunk(make_provider, server):
    pieces: list[str] = []
    provider = make_provider()

    streamed = provider.stream_complete(chat("tell me a story"), on_text=pieces.append)
    whole = provider.complete(chat("tell me a story"))

    assert streamed.text == whole.text == "echo: tell me a story"
    assert len(pieces) > 1 and "".join(pieces) == streamed.text
    assert streamed.usage == whole.usage and streamed.usage.total_tokens > 0
    assert streamed.finish_reason == "stop"
    sent = server.requests_to(COMPLETIONS)[0].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_stream_ends_at_done(make_provider, server):
    server.enqueue(sse=[chunk("Hel"), chunk("lo"), chunk(finish="stop"), (None, "[DONE]"),
                        chunk(" IGNORED")])

    result = make_provider().stream_complete(chat("hi"))

    assert result.text == "Hello"


def test_stream_from_a_server_without_usage_reports_zero_rather_than_a_guess(
        make_provider, server):
    server.enqueue(sse=[chunk("Hi"), chunk(finish="stop"), (None, "[DONE]")])

    result = make_provider().stream_complete(chat("hi"))

    assert result.text == "Hi"
    assert result.usage == Usage()


def test_error_event_mid_stream_is_a_provider_error(make_provider, server):
    server.enqueue(sse=[chunk("Hel"), (None, {"error": {"message": "model crashed",
                                                        "type": "server_error"}})])

    with pytest.raises(ProviderError, match="model crashed"):
        make_provider().stream_complete(chat("hi"))


def test_stream_that_stalls_past_the_timeout_raises_provider_timeout(make_provider, server):
    server.enqueue(sse=[chunk("a"), chunk("b"), chunk("c"), (None, "[DONE]")], interval=1.0)

    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        make_provider(timeout=0.3).stream_complete(chat("hi"))
    assert time.monotonic() - started < 1.5


# --- errors (kinds, statuses, timeouts, retries: test_openai_conformance.py) -------------


def test_rate_limit_without_retry_after_has_none(make_provider, server):
    server.enqueue_error(429, code="insufficient_quota", message="You exceeded your quota.")

    with pytest.raises(ProviderRateLimited) as caught:
        make_provider().complete(chat("hi"))

    assert caught.value.retry_after is None
    assert "insufficient_quota" in str(caught.value)


# --- secrets -------------------------------------------------------------------------------


def test_repr_shows_no_secret(make_provider, api_key):
    provider = make_provider()
    provider.complete(chat("hi"))  # the SDK client exists now, holding the key

    assert api_key not in repr(provider)
    assert api_key not in str(provider)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_error_messages_never_contain_the_key_even_when_the_server_echoes_it(
        make_provider, server, api_key, status):
    server.enqueue_error(status, message=f"problem with key {api_key} in this request")

    with pytest.raises(ProviderError) as caught:
        make_provider().complete(chat("hi"))

    assert api_key not in str(caught.value)
    assert api_key not in "".join(traceback.format_exception(caught.value))


def test_logs_never_contain_the_key(make_provider, server, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider()
    server.enqueue_error(500, headers={"retry-after-ms": "10"})
    with pytest.raises(ProviderError):  # the SDK never retries
        provider.complete(chat("hi"))
    provider.complete(chat("hi"))
    provider.stream_complete(chat("hi"))
    server.enqueue_error(401, message=f"bad key {api_key}")
    with pytest.raises(ProviderAuthError):
        provider.complete(chat("hi"))
    provider.health_check()

    assert caplog.records, "the SDK logs at DEBUG; nothing captured means the test is blind"
    assert api_key not in caplog.text


# --- credentials and configuration ---------------------------------------------------------


def test_missing_key_for_api_openai_com_is_a_config_error():
    provider = OpenAIProvider({}, {})

    with pytest.raises(ConfigInvalid) as caught:
        provider.complete(chat("hi"))
    assert "api_key" in caught.value.errors


def test_self_hosted_server_without_key_never_gets_the_process_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-key-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    with FakeOpenAI() as local:
        provider = OpenAIProvider({"base_url": local.url}, {})
        assert provider.complete(chat("hi")).text == "echo: hi"
        provider.close()

    assert local.requests[0].headers["authorization"] == f"Bearer {NO_KEY}"


def test_organization_and_project_come_from_the_config_never_the_environment(
        make_provider, server, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-operator")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-operator")

    make_provider().complete(chat("hi"))
    make_provider(organization="org-tenant", project="proj-tenant").complete(chat("hi"))

    plain, configured = (r.headers for r in server.requests_to(COMPLETIONS))
    assert "openai-organization" not in plain and "openai-project" not in plain
    assert configured["openai-organization"] == "org-tenant"
    assert configured["openai-project"] == "proj-tenant"


def test_config_schema_is_valid_and_its_defaults_satisfy_it():
    jsonschema.Draft202012Validator.check_schema(OpenAIProvider.config_schema)
    provider = OpenAIProvider({}, {"api_key": "k"})

    jsonschema.validate(provider.config, OpenAIProvider.config_schema)
    assert provider.config["model"] == "gpt-4o-mini"
    assert provider.config["max_retries"] == 0


def test_class_declares_what_the_core_needs():
    assert issubclass(OpenAIProvider, LLMProvider)
    assert (OpenAIProvider.id, OpenAIProvider.kind) == ("openai", "llm")
    assert OpenAIProvider.secrets == ("api_key",)
    assert {"chat", "json", "stream"} <= OpenAIProvider.capabilities


# --- health --------------------------------------------------------------------------------


def test_health_check_lists_models(make_provider, server):
    health = make_provider().health_check()

    assert health.ok, health.detail
    assert health.latency_ms is not None
    assert server.requests[-1].path == "/v1/models"


def test_health_check_fails_when_the_model_is_not_served(make_provider):
    health = make_provider(model="no-such-model").health_check()

    assert not health.ok
    assert "no-such-model" in health.detail


def test_health_check_reports_rejected_credentials(make_provider, api_key):
    health = make_provider(secrets={"api_key": "sk-wrong-0000000000"}).health_check()

    assert not health.ok
    assert "credentials" in health.detail
    assert api_key not in health.detail


def test_one_instance_serves_concurrent_calls(make_provider):
    provider = make_provider()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: provider.complete(chat(f"call {i}")), range(16)))

    assert [r.text for r in results] == [f"echo: call {i}" for i in range(16)]


def test_closed_provider_builds_a_new_client_on_next_use(make_provider):
    provider = make_provider()
    provider.complete(chat("hi"))
    provider.close()

    assert provider.complete(chat("again")).text == "echo: again"


# --- what the gateway's router reads -----------------------------------------------------


def test_cached_prompt_tokens_are_reported(make_provider, server):
    server.cached_tokens = 8
    usage = make_provider().complete(chat("a prompt long enough to be cached " * 4)).usage
    assert usage.cached_input_tokens == 8 and usage.input_tokens > 8


def test_stream_yields_pieces_then_the_usage(make_provider, server):
    chunks = list(make_provider().stream(chat("one two three four five six")))
    assert "".join(c.text for c in chunks) == "echo: one two three four five six"
    assert len(chunks) > 2 and chunks[-1].usage.output_tokens > 0
