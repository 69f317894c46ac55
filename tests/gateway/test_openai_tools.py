"""Tool calling (function calling) through ``/api/v1/openai`` with the real ``openai`` SDK:
``tools``, ``tool_choice`` and ``parallel_tool_calls`` reach either provider in its own
terms, the model's calls come back as OpenAI's ``tool_calls`` (whole, or as stream deltas),
a conversation carries them and their results to the final answer, and an invalid tool
request is OpenAI's 400 naming the parameter before anything is sent."""

from __future__ import annotations

import json

import openai
import pytest

from tests.gateway.conftest import ledger_rows
from tests.gateway.test_openai_sdk_compat import chats, recorded

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": CITY}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC"]}},
    "required": ["zone"]}}}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]


def upstream(servers, model: str) -> dict:
    """What the provider of ``model`` was last sent."""
    return (servers[0] if model.startswith("openai") else servers[1]).requests[-1].json


@pytest.mark.parametrize("model", MODELS)
def test_a_tool_call_round_trip_reaches_the_final_answer(sdk, servers, tenant, database,
                                                         model):
    """call -> the app runs the tool -> its result -> the model's answer, with the SDK's
    own types; each provider gets the tools, the call and its result in its own terms."""
    asked = sdk.chat.completions.create(model=model, messages=ASK, tools=[WEATHER])
    choice = asked.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert (call.type, call.function.name) == ("function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "x"} and call.id
    assert not choice.message.content
    sent = upstream(servers, model)
    if model.startswith("openai"):
        assert sent["tools"] == [WEATHER]
    else:
        assert sent["tools"] == [{"name": "get_weather", "description": "Weather",
                                  "input_schema": CITY}]
        assert sent["tool_choice"] == {"type": "auto"}
    history = [*ASK, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    final = sdk.chat.completions.create(model=model, messages=history, tools=[WEATHER])
    assert final.choices[0].message.content == "echo: sunny, 21 C"
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.tool_calls is None
    sent = upstream(servers, model)
    if model.startswith("openai"):
        assert sent["messages"][1]["tool_calls"][0]["id"] == call.id
        assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id,
                                       "content": "sunny, 21 C"}
    else:
        assert sent["messages"][1] == {"role": "assistant", "content": [{
            "type": "tool_use", "id": call.id, "name": "get_weather",
            "input": {"city": "x"}}]}
        assert sent["messages"][2] == {"role": "user", "content": [{
            "type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}]}
    streamed = [c for c in sdk.chat.completions.create(model=model, messages=history,
                                                       tools=[WEATHER], stream=True)
                if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "echo: sunny, 21 C"
    assert not any(c.choices[0].delta.tool_calls for c in streamed)
    assert streamed[-1].choices[0].finish_reason == "stop"
    recorded(database, tenant, 3)
    rows = ledger_rows(database, tenant.workspace_id, "status, input_tokens, output_tokens")
    assert all(r["status"] == "ok" and r["output_tokens"] > 0 for r in rows), rows


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_calls_come_as_openais_deltas(sdk, servers, model):
    """Each call's first delta has its index, id and name, the next ones fragments of its
    arguments; the SDK's stream helper puts them together."""
    ask = [{"role": "user", "content": "get_weather and get_time, please"}]
    chunks = [c for c in sdk.chat.completions.create(model=model, messages=ask, stream=True,
                                                     tools=[WEATHER, TIME]) if c.choices]
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            if delta.index not in calls:
                assert delta.id and delta.function.name and delta.type == "function"
                calls[delta.index] = {"id": delta.id, "name": delta.function.name,
                                      "arguments": ""}
            else:
                assert delta.id is None
            calls[delta.index]["arguments"] += delta.function.arguments or ""
    assert [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())] == [
        ("get_weather", {"city": "x"}), ("get_time", {"zone": "UTC"})]
    assert sum(bool(c.choices[0].delta.tool_calls) for c in chunks) > 2  # in pieces
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    with sdk.chat.completions.stream(model=model, messages=ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather",
                                                                        {"city": "x"})
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", MODELS)
def test_tool_choice_and_parallel_tool_calls_reach_the_provider(sdk, servers, model):
    anthropic = model.startswith("anthropic")
    both = [{"role": "user", "content": "get_weather and get_time"}]
    named = sdk.chat.completions.create(model=model, messages=ASK, tools=[WEATHER, TIME],
                                        tool_choice={"type": "function",
                                                     "function": {"name": "get_time"}})
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["get_time"]
    assert upstream(servers, model)["tool_choice"] == (
        {"type": "tool", "name": "get_time"} if anthropic
        else {"type": "function", "function": {"name": "get_time"}})
    sdk.chat.completions.create(model=model, messages=ASK, tools=[WEATHER],
                                tool_choice="required")
    assert upstream(servers, model)["tool_choice"] == ({"type": "any"} if anthropic
                                                       else "required")
    none = sdk.chat.completions.create(model=model, messages=ASK, tools=[WEATHER],
                                       tool_choice="none")
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].message.content == "echo: What is the weather in Oslo?"
    one = sdk.chat.completions.create(model=model, messages=both, tools=[WEATHER, TIME],
                                      parallel_tool_calls=False)
    assert len(one.choices[0].message.tool_calls) == 1
    sent = upstream(servers, model)
    if anthropic:
        assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    else:
        assert sent["parallel_tool_calls"] is False


CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}


@pytest.mark.parametrize(("options", "param"), [
    ({"tools": [{"type": "function", "function": {"name": "get weather"}}]},
     "tools.0.function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "objekt"}}}]}, "tools.0.function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
     "tools.0.function.parameters"),
    ({"tools": [{"type": "custom", "custom": {"name": "f"}}]}, "tools.0.type"),
    ({"tools": [WEATHER, WEATHER]}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function",
                                           "function": {"name": "get_time"}}}, "tool_choice"),
    ({"tools": [WEATHER], "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ({"messages": [*ASK, {"role": "tool", "tool_call_id": "call_1", "content": "x"}]},
     "messages.1.tool_call_id"),
    ({"messages": [*ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                   {"role": "tool", "content": "x"}]}, "messages.2.tool_call_id"),
    ({"messages": [*ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                   {"role": "tool", "tool_call_id": "call_2", "content": "x"}]},
     "messages.2.tool_call_id"),
    ({"messages": [*ASK, {"role": "assistant", "tool_calls": [
        {**CALL, "function": {"name": "get_weather", "arguments": "{oops"}}]}]},
     "messages.1.tool_calls.0.function.arguments"),
    # Nested deeper than the JSON reader recurses (a RecursionError, once a 500).
    ({"messages": [*ASK, {"role": "assistant", "tool_calls": [
        {**CALL, "function": {"name": "get_weather", "arguments": "[" * 5000}}]}]},
     "messages.1.tool_calls.0.function.arguments"),
    ({"messages": [*ASK, {"role": "assistant", "tool_calls": [
        {**CALL, "function": {"name": "get_weather",
                              "arguments": json.dumps({"a": "x" * 200_000})}}]}]},
     "messages.1.tool_calls.0.function.arguments"),
    ({"messages": [*ASK, {"role": "assistant", "tool_calls": [CALL] * 129}]},
     "messages.1.tool_calls"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "description": "x" * 200_001}}}]}, "tools.0.function.parameters"),
    ({"messages": [*ASK, {"role": "assistant", "content": None}]}, "messages.1.content"),
    ({"messages": [{**ASK[0], "tool_calls": [CALL]}]}, "messages.0.tool_calls"),
    ({"messages": [*ASK, {"role": "assistant", "content": "",
                          "function_call": {"name": "f", "arguments": "{}"}}]},
     "messages.1.function_call"),
    ({"messages": [*ASK, {"role": "function", "name": "f", "content": "x"}]},
     "messages.1.role"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_an_invalid_tool_request_is_a_400_naming_the_param_before_any_call(
        sdk, servers, tenant, database, options, param):
    body = {"model": "fast", "messages": ASK, **options}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(**body)
    assert (caught.value.type, caught.value.param) == ("invalid_request_error", param), \
        caught.value.body
    assert not [r for server in servers for r in server.requests]
    assert ledger_rows(database, tenant.workspace_id, "id") == []


def test_a_route_holding_a_provider_without_tools_refuses_them_never_drops_them(
        sdk, servers, tenant, database):
    """The builtin provider has no ``tools`` capability: a tools request routed to it is a
    400 naming ``tools``, and so is a conversation holding tool calls; nothing is sent."""
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "aliases": {"mixed": ["openai/gpt-4o-mini", "builtin/builtin"]}}}})
    assert saved.status_code == 200, saved.json
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    for options in ({"messages": ASK, "tools": [WEATHER]}, {"messages": history}):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.chat.completions.create(model="mixed", **options)
        assert caught.value.param == "tools" and "builtin" in caught.value.message
    assert not [r for server in servers for r in server.requests]
    plain = sdk.chat.completions.create(model="mixed", messages=ASK)
    assert plain.choices[0].message.content


def test_the_tools_are_part_of_the_cache_key_and_a_hit_answers_the_calls(
        sdk, servers, tenant, database):
    for stream in (False, True):
        for tools in ([WEATHER], [WEATHER], [TIME]):
            raw = sdk.chat.completions.with_raw_response.create(
                model="openai/gpt-4o-mini", temperature=0, messages=ASK, tools=tools,
                stream=stream)
            answer = raw.parse()
            if stream:
                chunks = [c for c in answer if c.choices]
                names = [d.function.name for c in chunks
                         for d in c.choices[0].delta.tool_calls or [] if d.function.name]
                finish = chunks[-1].choices[0].finish_reason
            else:
                names = [c.function.name for c in answer.choices[0].message.tool_calls]
                finish = answer.choices[0].finish_reason
            assert (names, finish) == ([tools[0]["function"]["name"]], "tool_calls")
            rows = len(ledger_rows(database, tenant.workspace_id, "id"))
            recorded(database, tenant, rows)
    assert chats(servers[0]) == 2  # one per set of tools; every other answer a hit
