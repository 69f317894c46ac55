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
    Tool,
    ToolCall,
    Usage,
    assembled,
)
from codex32.testing.conformance.cases import DEFAULT_TIMEOUT_BOUND, ErrorCase
from codex32.testing.conformance.routed import RoutedConformance


class LLMProviderConformance(RoutedConformance):
    """An :class:`LLMProvider`: ``complete()`` answers with text, the model and real usage."""

    kind = "llm"
    methods = ("complete",)
    # False for a backend whose API reports no token counts (the usage checks then skip).
    reports_usage: ClassVar[bool] = True
    # False for a backend that answers one request differently each time (the check that a
    # stream says what ``complete()`` says then skips).
    deterministic: ClassVar[bool] = True

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

    def limited_request(self) -> ChatRequest:
        """A chat whose answer is longer than its ``max_tokens`` (the kit's fakes echo the
        question); override to suit a backend's script."""
        return ChatRequest(messages=(Message("user", "Repeat after me: " + "conformance " * 60),),
                           max_tokens=5, timeout=10)

    def _a_language_model(self) -> None:
        if not getattr(self.plugin_class, "is_language_model", True):
            pytest.skip(f"{self.plugin_class.__name__} is no language model")
        if not self.reports_usage:
            pytest.skip(f"{type(self).__name__}.reports_usage is False: the backend counts "
                        "no tokens")

    def test_usage_is_what_the_backend_counted(self):
        """A language model's ``complete()`` and ``stream()`` report the backend's token
        counts, input and output both above zero (a provider that drops the usage bills
        nothing); set ``reports_usage = False`` for a backend that sends none."""
        self._a_language_model()
        plugin = self.build()
        for how, usage in (("complete()", self.exercise(plugin).usage),
                           ("stream()", plugin.stream_complete(self.chat_request()).usage)):
            check_usage(usage)
            assert usage.input_tokens > 0 and usage.output_tokens > 0, (
                f"{how} reports {usage}: the backend's counts were not read")

    def test_max_tokens_bounds_the_answer(self):
        """The request's ``max_tokens`` reaches the backend: with :meth:`limited_request`,
        ``complete()`` and ``stream()`` each report at most that many output tokens."""
        self._a_language_model()
        request = self.limited_request()
        plugin = self.build()
        for how, result in (("complete()", plugin.complete(request)),
                            ("stream()", plugin.stream_complete(request))):
            assert 0 < result.usage.output_tokens <= request.max_tokens, (
                f"{how} answered {result.usage.output_tokens} output tokens with max_tokens "
                f"{request.max_tokens}: the limit did not reach the backend")

    def test_stream_says_what_complete_says_in_pieces(self):
        """On a deterministic backend, ``stream()``'s pieces add up to ``complete()``'s text,
        nothing dropped or repeated; a provider with the ``stream`` capability yields the text
        in more than one piece (its default, one chunk from ``complete()``, is no stream); only
        the last chunk may carry usage."""
        plugin = self.build()
        chunks = list(plugin.stream(self.chat_request()))
        streamed = "".join(chunk.text for chunk in chunks)
        if self.deterministic:
            assert streamed == plugin.complete(self.chat_request()).text, (
                "the stream's pieces do not add up to complete()'s answer")
        if "stream" in self.plugin_class.capabilities:
            assert sum(1 for chunk in chunks if chunk.text) > 1, (
                "the 'stream' capability is declared but the answer came in one piece")
        assert all(chunk.usage is None for chunk in chunks[:-1]), (
            "a chunk before the last carries usage: only the last one's is read")

    def test_provoked_failures_raise_the_same_errors_from_stream(self):
        """Each of :meth:`error_cases` without its own ``call``, and :meth:`timeout_case`,
        raise the same error from ``stream()`` as from ``complete()`` (kind, status and
        Retry-After included): a stream never swallows a failure into an empty or short
        answer."""
        timeout = self.timeout_case()
        bounded = [dataclasses.replace(timeout, within=timeout.within or DEFAULT_TIMEOUT_BOUND)
                   ] if timeout else []
        cases = [case for case in [*self.error_cases(), *bounded] if case.call is None]
        if not cases:
            pytest.skip(self._why_not("error_cases", "provokes no failure"))
        for case in cases:
            self.provoke(dataclasses.replace(
                case, name=f"{case.name} (streamed)",
                call=lambda plugin: list(plugin.stream(self.chat_request()))))

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

    TOOL: ClassVar[Tool] = Tool(
        name="get_weather", description="The current weather in a city.",
        parameters={"type": "object", "additionalProperties": False, "required": ["city"],
                    "properties": {"city": {"type": "string", "minLength": 1}}})

    def tools_request(self) -> ChatRequest:
        """The request of the ``tools`` check: :attr:`TOOL` offered and chosen by name;
        override to suit a backend's script."""
        return ChatRequest(messages=(Message("user", "What is the weather in Oslo?"),),
                           tools=(self.TOOL,), tool_choice=self.TOOL.name, max_tokens=128,
                           timeout=10)

    def test_tools_are_called_and_their_results_answered(self):
        """A provider with the ``tools`` capability answers :meth:`tools_request` with a call
        of the chosen tool (an id, its name, arguments the JSON text of an object valid
        against its parameters), by ``complete()`` and by ``stream()`` (whose pieces add up
        to the calls: :func:`~codex32.plugins.interfaces.assembled`); the conversation
        carrying that call and the tool's result is answered with text."""
        if "tools" not in self.plugin_class.capabilities:
            pytest.skip("the provider declares no 'tools' capability")
        plugin = self.build()
        request = self.tools_request()
        result = plugin.complete(request)
        streamed = assembled(list(plugin.stream(request)))
        for how, calls in (("complete()", result.tool_calls), ("stream()", streamed)):
            assert calls, f"{how} made no tool call though tool_choice names the tool"
            for call in calls:
                check_call(call, self.TOOL, how)
        call = result.tool_calls[0]
        answered = plugin.complete(ChatRequest(
            messages=(*request.messages, Message("assistant", result.text, tool_calls=(call,)),
                      Message("tool", "Sunny, 21 degrees.", tool_call_id=call.id)),
            tools=request.tools, max_tokens=request.max_tokens, timeout=request.timeout))
        assert answered.text, "the conversation holding the tool's result got no text"

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


def check_call(call: ToolCall, tool: Tool, how: str) -> None:
    """A call of ``tool``: an id, its name, arguments the JSON text of a valid object."""
    assert isinstance(call, ToolCall), f"{how} answered a {type(call).__name__} as a call"
    assert call.id and isinstance(call.id, str), f"{how} made a call without an id"
    assert call.name == tool.name, f"{how} called {call.name!r}, not {tool.name!r}"
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        arguments = None
    assert isinstance(arguments, dict), (
        f"{how} called with arguments {call.arguments!r}: not the JSON text of an object")
    problems = [e.message for e in Draft202012Validator(tool.parameters).iter_errors(arguments)]
    assert not problems, f"{how} called with {arguments!r}, which breaks the schema: {problems}"


def check_usage(usage: Usage) -> None:
    """Token counts are non-negative ints; cached input is part of the input, reasoning part
    of the output."""
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"):
        count = getattr(usage, name)
        assert isinstance(count, int) and count >= 0, f"{name} is {count!r}"
    assert usage.cached_input_tokens <= usage.input_tokens, "cached input exceeds input"
    assert usage.reasoning_tokens <= usage.output_tokens, "reasoning exceeds output"
