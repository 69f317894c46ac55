"""The suite of language model providers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator

from codex32.plugins.errors import ProviderTimeout
from codex32.plugins.interfaces import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    Message,
    Usage,
)
from codex32.testing.conformance.cases import ErrorCase
from codex32.testing.conformance.routed import RoutedConformance


class LLMProviderConformance(RoutedConformance):
    """An :class:`LLMProvider`: ``complete()`` answers with text, the model and real usage."""

    kind = "llm"
    methods = ("complete",)

    def chat_request(self) -> ChatRequest:
        """The chat the checks send; override to suit a backend's script."""
        return ChatRequest(messages=(Message("system", "You are terse."),
                                     Message("user", "Say hello to the conformance kit.")),
                           max_tokens=64, timeout=10)

    def exercise(self, plugin: Any) -> ChatResult:
        return plugin.complete(self.chat_request())

    def test_complete_returns_text_model_and_usage(self):
        """``complete()`` returns a :class:`ChatResult` with non-empty text, the model that
        answered, non-negative token counts and a non-negative cost."""
        result = self.exercise(self.build())
        assert isinstance(result, ChatResult)
        assert isinstance(result.text, str) and result.text, "the answer has no text"
        assert isinstance(result.model, str) and result.model, "the answer names no model"
        assert isinstance(result.usage, Usage)
        check_usage(result.usage)
        assert result.cost_usd >= 0

    def test_stream_yields_text_and_ends_with_usage(self):
        """``stream()`` yields :class:`ChatChunk` pieces whose text adds up to an answer; the
        last chunk carries the usage (the base class's default streams ``complete()``)."""
        chunks = list(self.build().stream(self.chat_request()))
        assert chunks and all(isinstance(chunk, ChatChunk) for chunk in chunks)
        assert "".join(chunk.text for chunk in chunks), "the stream has no text"
        assert isinstance(chunks[-1].usage, Usage), "the last chunk carries no usage"
        check_usage(chunks[-1].usage)

    STRUCTURED_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False, "required": ["greeting", "count"],
        "properties": {"greeting": {"type": "string", "minLength": 1},
                       "count": {"type": "integer", "minimum": 0}}}

    def structured_request(self) -> ChatRequest:
        """The structured-output request of the ``schema`` check; override to suit a script."""
        return ChatRequest(messages=(Message("user", "Greet the conformance kit, in JSON."),),
                           max_tokens=128, timeout=10, json_mode=True,
                           response_schema={"name": "greeting",
                                            "schema": self.STRUCTURED_SCHEMA})

    def test_structured_output_is_one_json_object_matching_the_schema(self):
        """A provider with the ``schema`` capability answers a request's ``response_schema``
        with the JSON text of one object valid against it, by ``complete()`` and by
        ``stream()`` alike."""
        if "schema" not in self.plugin_class.capabilities:
            pytest.skip("the provider declares no 'schema' capability")
        plugin = self.build()
        streamed = "".join(chunk.text for chunk in plugin.stream(self.structured_request()))
        for text in (plugin.complete(self.structured_request()).text, streamed):
            answer = json.loads(text)
            problems = [e.message for e in
                        Draft202012Validator(self.STRUCTURED_SCHEMA).iter_errors(answer)]
            assert not problems, f"the answer {text!r} breaks the schema: {problems}"


    def test_a_request_timeout_shorter_than_the_configured_one_wins(self):
        """With :meth:`timeout_case`'s slow backend and the working configuration, a chat
        whose ``timeout`` is 0.3 s raises ``ProviderTimeout`` within 2 s: the gateway lowers
        each attempt's timeout to what its deadline leaves."""
        case = self.timeout_case()
        if case is None:
            pytest.skip(self._why_not("timeout_case", "gives no slow backend"))
        hurried = dataclasses.replace(self.chat_request(), timeout=0.3)
        self.provoke(ErrorCase("a chat with a timeout of 0.3 s", ProviderTimeout, within=2,
                               arrange=case.arrange, call=lambda plugin: plugin.complete(hurried)))


def check_usage(usage: Usage) -> None:
    """Token counts are non-negative ints; cached input is part of the input, reasoning part
    of the output."""
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"):
        count = getattr(usage, name)
        assert isinstance(count, int) and count >= 0, f"{name} is {count!r}"
    assert usage.cached_input_tokens <= usage.input_tokens, "cached input exceeds input"
    assert usage.reasoning_tokens <= usage.output_tokens, "reasoning exceeds output"
