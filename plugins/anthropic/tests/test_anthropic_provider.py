"""AnthropicProvider through the real anthropic SDK against the fake Anthropic API."""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

import jsonschema
import pytest
from codex32_anthropic import AnthropicProvider
from codex32_anthropic.provider import JSON_INSTRUCTION, NO_KEY

from codex32.plugins.api import (
    ChatRequest,
    ConfigInvalid,
    LLMProvider,
    Message,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
    Usage,
)
from codex32.testing.fake_anthropic import FakeAnthropic

MESSAGES = "/v1/messages"


def chat(*texts: str, system: str | None = None, **options: Any) -> ChatRequest:
    """A chat request of user messages, with an optional system prompt first."""
    messages = [Message("system", system)] if system else []
    messages += [Message("user", text) for text in texts]
    return ChatRequest(messages=tuple(messages), **options)


def message(*blocks: dict[str, Any], model: str = "claude-haiku-4-5",
            stop_reason: str = "end_turn", **usage: int) -> dict[str, Any]:
    """A Messages API answer with the given content blocks and usage counts."""
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": list(blocks), "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, **usage}}


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


# --- answers -------------------------------------------------------------------------------


def test_complete_returns_text_usage_and_stop_reason(make_provider, server):
    server.enqueue(json=message(text_block("Hello"), input_tokens=321, output_tokens=54,
                                stop_reason="max_tokens"))

    result = make_provider().complete(chat("hi"))

    assert result.text == "Hello"
    assert result.usage == Usage(input_tokens=321, output_tokens=54)
    assert result.finish_reason == "max_tokens"
    assert result.model == "claude-haiku-4-5"


def test_text_is_assembled_from_text_blocks_only(make_provider, server):
    server.enqueue(json=message(
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        text_block("Hello, "), text_block("world")))

    assert make_provider().complete(chat("hi")).text == "Hello, world"


def test_default_answer_counts_usage_from_the_input(make_provider):
    short = make_provider().complete(chat("hi"))
    long = make_provider().complete(chat("hi " * 400))

    assert short.text == "echo: hi"
    assert short.finish_reason == "end_turn"
    assert short.usage.output_tokens > 0
    assert long.usage.input_tokens > short.usage.input_tokens + 250


def test_system_prompts_are_split_out_of_the_messages(make_provider, server, api_key):
    request = ChatRequest(messages=(
        Message("system", "be brief"), Message("user", "first"),
        Message("assistant", "ok"), Message("system", "use British spelling"),
        Message("user", "second")), max_tokens=99)

    make_provider().complete(request)

    sent = server.requests_to(MESSAGES)[-1]
    assert sent.headers["authorization"] == f"Bearer {api_key}"
    assert "anthropic-version" in sent.headers
    assert sent.json["system"] == "be brief\n\nuse British spelling"
    assert sent.json["messages"] == [{"role": "user", "content": "first"},
                                     {"role": "assistant", "content": "ok"},
                                     {"role": "user", "content": "second"}]
    assert sent.json["max_tokens"] == 99
    assert sent.json["model"] == "claude-haiku-4-5"
    assert "temperature" not in sent.json and "stream" not in sent.json


def test_consecutive_turns_of_one_role_are_merged(make_provider, server):
    make_provider().complete(chat("one", "two"))

    assert server.requests_to(MESSAGES)[-1].json["messages"] == [
        {"role": "user", "content": "one\n\ntwo"}]


def test_temperature_is_sent_only_when_configured(make_provider, server):
    make_provider(send_temperature=True).complete(chat("hi", temperature=0.9))

    assert server.requests_to(MESSAGES)[-1].json["temperature"] == 0.9


def test_request_model_overrides_the_configured_default(make_provider, server):
    result = make_provider().complete(chat("hi", model="claude-opus-4-7"))

    assert server.requests_to(MESSAGES)[-1].json["model"] == "claude-opus-4-7"
    assert result.model == "claude-opus-4-7"


# --- json mode -----------------------------------------------------------------------------


def test_json_mode_instructs_the_model_and_unwraps_a_code_fence(make_provider, server):
    server.enqueue(json=message(text_block('```json\n{"colours": ["red"]}\n```')))

    result = make_provider().complete(chat("list colours", system="be brief", json_mode=True))

    assert json.loads(result.text) == {"colours": ["red"]}
    assert server.requests_to(MESSAGES)[-1].json["system"] == "be brief\n\n" + JSON_INSTRUCTION


def test_json_mode_leaves_a_bare_object_alone(make_provider, server):
    server.enqueue(json=message(text_block(' {"a": 1}\n')))

    assert make_provider().complete(chat("x", json_mode=True)).text == '{"a": 1}'


# --- cost ----------------------------------------------------------------------------------


def test_cost_prices_snapshots_like_their_alias_and_cached_tokens_at_their_rates(
        make_provider, server):
    server.enqueue(json=message(text_block("hi"), model="claude-haiku-4-5-20251001",
                                input_tokens=1000, output_tokens=500,
                                cache_creation_input_tokens=2000,
                                cache_read_input_tokens=4000))
    prices = {"claude-haiku-4-5": {"input": 1.0, "output": 5.0}}

    result = make_provider(prices=prices).complete(chat("hi"))

    assert result.usage == Usage(input_tokens=7000, output_tokens=500, cached_input_tokens=4000)
    assert result.cost_usd == pytest.approx(
        (1000 * 1.0 + 2000 * 1.25 + 4000 * 0.1 + 500 * 5.0) / 1_000_000)


def test_cost_is_zero_for_an_unpriced_model(make_provider):
    prices = {"claude-opus-4-7": {"input": 5, "output": 25}}

    assert make_provider(prices=prices).complete(chat("hi")).cost_usd == 0.0


# --- streaming -----------------------------------------------------------------------------


def test_stream_assembles_text_and_usage_from_the_named_events(make_provider, server):
    pieces: list[str] = []
    provider = make_provider()

    streamed = provider.stream_complete(chat("tell me a story"), on_text=pieces.append)
    whole = provider.complete(chat("tell me a story"))

    assert streamed.text == whole.text == "echo: tell me a story"
    assert len(pieces) > 1 and "".join(pieces) == streamed.text
    assert streamed.usage.output_tokens == whole.usage.output_tokens > 0
    assert streamed.usage.input_tokens > 0
    assert streamed.finish_reason == "end_turn"
    assert server.requests_to(MESSAGES)[0].json["stream"] is True


def test_overloaded_error_event_mid_stream_is_a_provider_error(make_provider, server):
    server.enqueue(sse=server.stream_error_events(529))

    with pytest.raises(ProviderError, match="overloaded") as caught:
        make_provider().stream_complete(chat("hi"))
    assert type(caught.value) is ProviderError


def test_stream_that_stalls_past_the_timeout_raises_provider_timeout(make_provider, server):
    events = [event for event in server.message({
        "model": "claude-haiku-4-5", "max_tokens": 100, "stream": True,
        "messages": [{"role": "user", "content": "one two three four five six"}]}).sse]
    server.enqueue(sse=events, interval=1.0)

    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        make_provider(timeout=0.3).stream_complete(chat("hi"))
    assert time.monotonic() - started < 1.5


# --- what the gateway reads (error kinds, timeouts, retries: test_anthropic_conformance.py)


def test_stream_yields_pieces_then_usage_and_stops_upstream_when_closed(make_provider, server):
    provider = make_provider()
    chunks = list(provider.stream(chat("one two three four five six")))
    assert "".join(c.text for c in chunks) == "echo: one two three four five six"
    assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens > 0

    server.stream_interval = 0.3
    stream = provider.stream(chat("a b c d e f g h i j k l"))
    next(stream)
    stream.close()  # the consumer went away: the HTTP response is closed, nothing hangs


# --- secrets -------------------------------------------------------------------------------


def test_repr_shows_no_secret(make_provider, api_key):
    provider = make_provider()
    provider.complete(chat("hi"))  # the SDK client exists now, holding the key

    assert api_key not in repr(provider)
    assert api_key not in str(provider)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 529])
def test_error_messages_never_contain_the_key_even_when_the_api_echoes_it(
        make_provider, server, api_key, status):
    server.enqueue_error(status, message=f"problem with key {api_key} in this request")

    with pytest.raises(ProviderError) as caught:
        make_provider().complete(chat("hi"))

    assert api_key not in str(caught.value)
    assert api_key not in "".join(traceback.format_exception(caught.value))


def test_logs_never_contain_the_key(make_provider, server, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider()
    server.enqueue_error(529, headers={"retry-after-ms": "10"})
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


def test_missing_key_for_api_anthropic_com_is_a_config_error():
    with pytest.raises(ConfigInvalid) as caught:
        AnthropicProvider({}, {}).complete(chat("hi"))

    assert "api_key" in caught.value.errors


def test_gateway_without_key_never_gets_the_process_credentials(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-operator-key-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    with FakeAnthropic() as gateway:
        provider = AnthropicProvider({"base_url": gateway.url}, {})
        assert provider.complete(chat("hi")).text == "echo: hi"
        provider.close()

    sent = gateway.requests[0].headers
    assert "sk-ant-operator-key-from-env" not in json.dumps(sent)
    assert NO_KEY in sent.get("authorization", "") + sent.get("x-api-key", "")


def test_config_schema_is_valid_and_its_defaults_satisfy_it():
    jsonschema.Draft202012Validator.check_schema(AnthropicProvider.config_schema)
    provider = AnthropicProvider({}, {"api_key": "k"})

    jsonschema.validate(provider.config, AnthropicProvider.config_schema)
    assert provider.config["model"] == "claude-haiku-4-5"
    assert provider.config["max_retries"] == 0


def test_class_declares_what_the_core_needs():
    assert issubclass(AnthropicProvider, LLMProvider)
    assert (AnthropicProvider.id, AnthropicProvider.kind) == ("anthropic", "llm")
    assert AnthropicProvider.secrets == ("api_key",)
    assert {"chat", "json", "stream"} <= AnthropicProvider.capabilities


# --- health --------------------------------------------------------------------------------


def test_health_check_lists_models(make_provider, server):
    health = make_provider().health_check()

    assert health.ok, health.detail
    assert health.latency_ms is not None
    assert server.requests[-1].path == "/v1/models"


def test_health_check_accepts_an_alias_of_a_listed_snapshot(server, make_provider):
    server.models.append("claude-sonnet-9-20300101")

    assert make_provider(model="claude-sonnet-9").health_check().ok


def test_health_check_fails_for_an_unlisted_model_or_a_bad_key(make_provider, api_key):
    unlisted = make_provider(model="claude-nonexistent").health_check()
    rejected = make_provider(secrets={"api_key": "sk-ant-wrong"}).health_check()

    assert not unlisted.ok and "claude-nonexistent" in unlisted.detail
    assert not rejected.ok and "credentials" in rejected.detail
    assert api_key not in rejected.detail
