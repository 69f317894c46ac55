"""The Anthropic plugin's tool calling against the fake API: a conversation's parallel calls
and their results as Anthropic's blocks, a tool call without arguments, tools beside a
response schema."""

from __future__ import annotations

import json

from codex32.plugins.api import ChatRequest, Message, Tool, ToolCall, assembled

WEATHER = Tool("get_weather", "Weather", {"type": "object", "properties": {
    "city": {"type": "string"}}, "required": ["city"]})
NOW = Tool("now")  # no parameters


def test_parallel_calls_and_their_results_become_one_turn_each(make_provider, server):
    """Two calls: one assistant turn of two ``tool_use`` blocks; their two results and the
    user's next words one user turn, the ``tool_result`` blocks first, as the API wants."""
    calls = (ToolCall("toolu_1", "get_weather", '{"city": "Oslo"}'),
             ToolCall("toolu_2", "now", "{}"))
    request = ChatRequest(messages=(
        Message("user", "weather and time?"), Message("assistant", "Let me look.",
                                                      tool_calls=calls),
        Message("tool", "sunny", tool_call_id="toolu_1"),
        Message("tool", "noon", tool_call_id="toolu_2"),
        Message("user", "and tomorrow?")), tools=(WEATHER, NOW), parallel_tool_calls=False)
    make_provider().complete(request)
    sent = server.requests[-1].json
    assert sent["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}]}
    assert sent["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "noon"},
        {"type": "text", "text": "and tomorrow?"}]}
    assert len(sent["messages"]) == 3
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert sent["tools"][1] == {"name": "now", "input_schema": NOW.parameters}


def test_a_streamed_call_without_arguments_ends_with_an_empty_object(make_provider,
                                                                     server):
    """The API streams an empty input as one empty ``partial_json`` (or none): the call's
    arguments are still ``{}``, as ``complete()`` gives them."""
    request = ChatRequest(messages=(Message("user", "what time is it?"),), tools=(NOW,),
                          tool_choice="now")
    provider = make_provider()
    whole = provider.complete(request)
    events = server._events("msg_1", "claude-haiku-4-5", "", "tool_use", 10, 3, calls=[
        {"type": "tool_use", "id": "toolu_fake_0", "name": "now", "input": {}}])
    for _, data in events:
        if isinstance(data, dict) and data.get("type") == "content_block_delta":
            data["delta"]["partial_json"] = ""
    server.enqueue(200, sse=events, path="/v1/messages")
    chunks = list(provider.stream(request))
    streamed = assembled(chunks)
    assert [(c.id, c.name, c.arguments) for c in streamed] == [("toolu_fake_0", "now", "{}")]
    # the pieces themselves: a client adding up the deltas gets an object too
    assert "".join(d.arguments for c in chunks for d in c.tool_calls) == "{}"
    assert [(c.name, json.loads(c.arguments)) for c in whole.tool_calls] == [("now", {})]
    assert whole.finish_reason == chunks[-1].finish_reason == "tool_calls"


def test_with_tools_a_response_schema_is_an_instruction_not_the_forced_tool(
        make_provider, server):
    request = ChatRequest(messages=(Message("user", "weather?"),), tools=(WEATHER,),
                          json_mode=True, response_schema={"name": "answer", "schema": {
                              "type": "object", "properties": {"ok": {"type": "boolean"}}}})
    make_provider().complete(request)
    sent = server.requests[-1].json
    assert [t["name"] for t in sent["tools"]] == ["get_weather"]
    assert sent["tool_choice"] == {"type": "auto"}
    assert '"ok"' in sent["system"]
