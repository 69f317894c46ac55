"""OpenAIProvider against answers no OpenAI server sends: any server a workspace's base_url
names may answer anything, and what it answers leaves the plugin as a ProviderError or as
the fields it reported (a refusal, cached and reasoning tokens)."""

from __future__ import annotations

import pytest
from test_openai_provider import chat, chunk, completion

from codex32.plugins.api import ProviderError, Usage


@pytest.mark.parametrize("body", [
    {"choices": "not a list"},
    {"choices": [{"message": "not an object"}]},
    {"choices": [{"message": {"content": 42}}]},
    {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "many"}},
    {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": -3}},
    {"choices": [{"message": {"content": "hi"}}], "model": ["gpt"]},
    ["not", "an", "object"],
])
def test_a_malformed_completion_is_a_provider_error_naming_it(make_provider, server, body):
    # A workspace's base_url may point at any server: what it answers is not trusted.
    server.enqueue(json=body)

    with pytest.raises(ProviderError, match="malformed"):
        make_provider().complete(chat("hi"))


def test_a_refusal_is_the_answer_text(make_provider, server):
    body = completion()
    body["choices"][0]["message"] = {"role": "assistant", "content": None,
                                     "refusal": "I can't help with that."}
    server.enqueue(json=body)

    assert make_provider().complete(chat("hi")).text == "I can't help with that."


def test_cached_and_reasoning_tokens_of_an_answer_are_reported(make_provider, server):
    body = completion(prompt_tokens=100, completion_tokens=40)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 64}
    body["usage"]["completion_tokens_details"] = {"reasoning_tokens": 25}
    server.enqueue(json=body)

    assert make_provider().complete(chat("hi")).usage == Usage(
        input_tokens=100, output_tokens=40, cached_input_tokens=64, reasoning_tokens=25)


def test_a_stream_with_a_malformed_usage_is_a_provider_error(make_provider, server):
    last = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": 1}}
    server.enqueue(sse=[chunk("Hi"), chunk(finish="stop"), (None, last), (None, "[DONE]")])

    with pytest.raises(ProviderError, match="malformed"):
        make_provider().stream_complete(chat("hi"))
