"""Tool calling through the platform's own ``POST /api/v1/llm/chat`` (the OpenAI-compatible
endpoint's are in test_openai_tools.py): the same request model and checks."""

from __future__ import annotations

import json

import pytest

from tests.gateway.conftest import events
from tests.gateway.test_chat_api import BODY

WEATHER = {"name": "get_weather", "description": "Weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_the_platforms_chat_takes_tools_and_answers_their_calls(chained, servers, model):
    """The same request model as the OpenAI-compatible endpoint: tools in, calls out (whole,
    or streamed as pieces), and the conversation carrying a call and its result."""
    ask = {"model": model, "tools": [WEATHER],
           "messages": [{"role": "user", "content": "weather in Oslo?"}]}
    response = chained.call("POST", "/api/v1/llm/chat", json=ask)
    assert response.status_code == 200, response.json
    [call] = response.json["tool_calls"]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "x"})
    assert response.json["finish_reason"] == "tool_calls"
    streamed = events(chained.call("POST", "/api/v1/llm/chat",
                                   json={**ask, "stream": True}).get_data())
    pieces = [piece for name, data in streamed if name == "chunk"
              for piece in data.get("tool_calls", [])]
    assert pieces[0]["name"] == "get_weather" and len(pieces) > 1
    assert json.loads("".join(p["arguments"] for p in pieces)) == {"city": "x"}
    assert streamed[-1][1]["tool_calls"][0]["name"] == "get_weather"
    answered = chained.call("POST", "/api/v1/llm/chat", json={**ask, "messages": [
        *ask["messages"], {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]})
    assert answered.status_code == 200, answered.json
    assert (answered.json["text"], answered.json["tool_calls"]) == ("echo: sunny", [])


@pytest.mark.parametrize(("body", "field"), [
    ({"tools": [{**WEATHER, "parameters": {"type": "string"}}]}, "tools.0.parameters"),
    ({"tools": [WEATHER, WEATHER]}, "tools"),
    ({"tools": [WEATHER], "tool_choice": "get_time"}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": [
        {"id": "c", "name": "f", "arguments": "{}"}]}]}, "messages.0.tool_calls"),
    ({"messages": [{"role": "user", "content": "x"},
                   {"role": "tool", "tool_call_id": "c", "content": "y"}]},
     "messages.1.tool_call_id"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "",
                    "tool_calls": [{"id": "c", "name": "f", "arguments": "[1]"}]}]},
     "messages.1.tool_calls.0.arguments"),
])
def test_the_platforms_chat_refuses_an_invalid_tool_request(chained, servers, body, field):
    response = chained.call("POST", "/api/v1/llm/chat", json={**BODY, **body})
    assert response.status_code in (400, 422), response.json
    assert field in json.dumps(response.json), response.json
    assert not [r for server in servers for r in server.requests]
