"""OpenAIProvider: chat completions from OpenAI or any OpenAI-compatible server.

Builds the request from a :class:`ChatRequest`, reports the usage the server counted and its
cost from the configured price table. Errors leave as :mod:`codex32.plugins.errors` types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from codex32.plugins.api import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    LLMProvider,
    Message,
    ProviderError,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from codex32_openai.connection import (
    CONNECTION_PROPERTIES,
    MAX_NAME,
    MAX_PRICED_MODELS,
    OpenAIConnection,
)

PRICE_TABLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "USD per million tokens by model name (a name also prices its dated "
                   "snapshots, e.g. gpt-4o-mini prices gpt-4o-mini-2024-07-18).",
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "maxProperties": MAX_PRICED_MODELS,
    "additionalProperties": {
        "type": "object",
        "properties": {"input": {"type": "number", "minimum": 0},
                       "output": {"type": "number", "minimum": 0}},
        "required": ["input", "output"],
        "additionalProperties": False,
    },
    "default": {},
}

SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")

# The API refuses json_object mode unless the word appears in the messages.
JSON_HINT = "Respond with a single JSON object."


class OpenAIProvider(OpenAIConnection, LLMProvider):
    """Chat completions through the official ``openai`` SDK (``chat.completions.create``)."""

    id = "openai"
    title = "OpenAI"
    description = ("OpenAI chat models, or any OpenAI-compatible server (vLLM, Ollama, "
                   "llama.cpp) through base_url.")
    secrets = ("api_key",)
    capabilities = frozenset({"chat", "json", "stream", "schema", "tools"})
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            **CONNECTION_PROPERTIES,
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                      "default": "gpt-4o-mini",
                      "description": "Model used when a request names none."},
            "max_tokens_param": {
                "enum": ["max_tokens", "max_completion_tokens"], "default": "max_tokens",
                "description": "Name of the output limit: OpenAI's reasoning models want "
                               "max_completion_tokens, most compatible servers max_tokens."},
            "send_temperature": {
                "type": "boolean", "default": True,
                "description": "Send the request's temperature; turn off for models that only "
                               "accept their default (OpenAI's reasoning models)."},
            "prices": PRICE_TABLE_SCHEMA,
        },
        "additionalProperties": False,
    }

    def complete(self, request: ChatRequest) -> ChatResult:
        """Answer the chat in one request; usage is what the server reported."""
        model = request.model or self.config["model"]
        with self.translated_errors():
            # The SDK's request path as ``chat.completions.create`` takes it (its client,
            # headers, timeout and errors), minus two passes that cost about a third of the
            # SDK's CPU on every call: rewriting the parameters through their TypedDicts, and
            # building the response's pydantic models. The parameters are plain JSON already,
            # and the answer is read here, checked field by field (the SDK's models are built
            # without validation, so they would let a malformed answer through anyway).
            # ``cast_to=object`` is the SDK's way to get the decoded JSON as it came.
            answer = self.client.post(
                "/chat/completions", body=self._parameters(request, model), cast_to=object,
                options={"timeout": self._timeout(request)})
        return _completion(answer, model, self.price)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Answer the chat as SSE chunks; the last one carries the usage the server counted.

        Usage comes from the final chunk (``stream_options.include_usage``); a server that
        sends none leaves it at zero rather than guessing. Closing the iterator closes the
        HTTP response, which stops the upstream generation.
        """
        model = request.model or self.config["model"]
        usage, answered_by, finish_reason = Usage(), model, None
        spoke = False  # a chunk with text was yielded
        with self.translated_errors():
            stream = self.client.chat.completions.create(
                **self._parameters(request, model), stream=True,
                stream_options={"include_usage": True}, timeout=self._timeout(request))
            with stream:
                for chunk in stream:
                    answered_by = chunk.model or answered_by
                    if chunk.usage is not None:
                        try:
                            usage = _usage(chunk.usage)
                        except _Malformed as exc:
                            raise ProviderError("OpenAI streamed a malformed usage: "
                                                f"{exc}") from None
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        finish_reason = choice.finish_reason or finish_reason
                        calls = _call_deltas(choice.delta.tool_calls)
                        if calls:
                            spoke = True
                            yield ChatChunk(text=choice.delta.content or "", model=answered_by,
                                            tool_calls=calls)
                        elif choice.delta.content:
                            spoke = True
                            yield ChatChunk(text=choice.delta.content, model=answered_by)
                        elif spoke:
                            # A chunk without text (reasoning, keep-alive): yielded empty, so
                            # the caller's time limit is checked between chunks. Not before
                            # the first words: the caller falls back until then.
                            yield ChatChunk(model=answered_by)
        yield ChatChunk(model=answered_by, usage=usage, finish_reason=finish_reason)

    def price(self, usage: Usage, requested: str, answered_by: str) -> float:
        """USD for ``usage`` from the price table; 0.0 for a model it does not list."""
        price = _price_for(self.config.get("prices") or {}, requested, answered_by)
        if price is None:
            return 0.0
        return (usage.input_tokens * price["input"]
                + usage.output_tokens * price["output"]) / 1_000_000

    def _parameters(self, request: ChatRequest, model: str) -> dict[str, Any]:
        messages = [_message(m) for m in request.messages]
        parameters: dict[str, Any] = {
            "model": model,
            "messages": messages,
            self.config["max_tokens_param"]: request.max_tokens,
        }
        if self.config["send_temperature"]:
            parameters["temperature"] = request.temperature
        if request.stop:
            parameters["stop"] = list(request.stop)
        if request.tools:
            parameters["tools"] = [{"type": "function", "function": {
                "name": t.name, "parameters": t.parameters,
                **({"description": t.description} if t.description else {}),
                **({"strict": True} if t.strict else {})}} for t in request.tools]
            if request.parallel_tool_calls is not None:
                parameters["parallel_tool_calls"] = request.parallel_tool_calls
        if request.tool_choice is not None:
            parameters["tool_choice"] = request.tool_choice if request.tool_choice in (
                "auto", "none", "required") else {"type": "function",
                                                  "function": {"name": request.tool_choice}}
        if request.response_schema is not None:
            parameters["response_format"] = {"type": "json_schema",
                                              "json_schema": json_schema(request.response_schema)}
        elif request.json_mode:
            parameters["response_format"] = {"type": "json_object"}
            if not any("json" in m.content.lower() for m in request.messages):
                messages.insert(0, {"role": "system", "content": JSON_HINT})
        return parameters

    def _timeout(self, request: ChatRequest) -> float:
        # The workspace's setting is a ceiling; the caller's budget may be shorter.
        return min(float(request.timeout), float(self.config["timeout"]))


def _message(message: Message) -> dict[str, Any]:
    """A message as the API takes it, tool calls and results included."""
    found: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        found["tool_calls"] = [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}}
                               for c in message.tool_calls]
        found["content"] = message.content or None
    if message.role == "tool":
        found["tool_call_id"] = message.tool_call_id
    return found


def _call_deltas(deltas: Any) -> tuple[ToolCallDelta, ...]:
    """The pieces of tool calls of a streamed chunk's delta (the SDK's models)."""
    found = []
    for delta in deltas or ():
        function = delta.function
        found.append(ToolCallDelta(index=delta.index, id=delta.id,
                                   name=function.name if function else None,
                                   arguments=(function.arguments or "") if function else ""))
    return tuple(found)


def _tool_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    """The tool calls of a decoded answer's message."""
    found = []
    for call in _field(message, "tool_calls", list, []):
        function = _field(call, "function", dict)
        found.append(ToolCall(id=_field(call, "id", str),
                              name=_field(function, "name", str),
                              arguments=_field(function, "arguments", str, "") or "{}"))
    return tuple(found)


def json_schema(response_schema: dict[str, Any]) -> dict[str, Any]:
    """The ``json_schema`` of OpenAI's response format for a request's ``response_schema``.

    Not ``strict`` unless asked: strict mode refuses schemas with open objects or optional
    properties, and the caller validates the answer anyway.
    """
    found = {"name": str(response_schema.get("name") or "answer"),
             "schema": response_schema.get("schema") or {"type": "object"},
             "strict": bool(response_schema.get("strict", False))}
    if response_schema.get("description"):
        found["description"] = str(response_schema["description"])
    return found


class _Malformed(ValueError):
    """A field of the server's answer is not what the API sends."""


def _completion(answer: Any, requested: str,
                price: Callable[[Usage, str, str], float]) -> ChatResult:
    """The :class:`ChatResult` of a decoded ``chat.completion`` body; a body that does not
    have its shape (any server a workspace points at may answer) is a ProviderError."""
    try:
        choices = _field(answer, "choices", list)
        if not choices:
            raise ProviderError("OpenAI answered without a choice")
        choice = choices[0]
        message = _field(choice, "message", dict)
        text = (_field(message, "content", str, None) or _field(message, "refusal", str, None)
                or "")
        usage = _usage(answer.get("usage"))
        calls = _tool_calls(message)
        answered_by = _field(answer, "model", str, None) or requested
        finish_reason = _field(choice, "finish_reason", str, None)
    except _Malformed as exc:
        raise ProviderError(f"OpenAI answered with a malformed completion: {exc}") from None
    return ChatResult(text=text, model=answered_by, usage=usage,
                      cost_usd=price(usage, requested, answered_by),
                      finish_reason=finish_reason, tool_calls=calls)


_REQUIRED = object()


def _field(parent: Any, name: str, kind: type, default: Any = _REQUIRED) -> Any:
    """``parent[name]`` if it is a ``kind`` (None or absent: ``default``, when one is given)."""
    if not isinstance(parent, dict):
        raise _Malformed(f"expected an object holding {name!r}")
    value = parent.get(name)
    if value is None and default is not _REQUIRED:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _Malformed(f"{name!r} is not a {kind.__name__}")
    return value


def _usage(reported: Any) -> Usage:
    """The token counts of a ``usage`` object: a decoded one, or the SDK's model of a
    stream's last chunk."""
    if reported is None:
        return Usage()
    if not isinstance(reported, dict):
        reported = reported.model_dump(warnings=False)  # as it came, checked below
    prompt = _field(reported, "prompt_tokens_details", dict, {})
    completion = _field(reported, "completion_tokens_details", dict, {})
    counts = (_field(reported, "prompt_tokens", int, 0),
              _field(reported, "completion_tokens", int, 0),
              _field(prompt, "cached_tokens", int, 0),
              _field(completion, "reasoning_tokens", int, 0))
    if min(counts) < 0:
        raise _Malformed("a token count is negative")
    return Usage(input_tokens=counts[0], output_tokens=counts[1],
                 cached_input_tokens=counts[2], reasoning_tokens=counts[3])


def _price_for(prices: dict[str, dict[str, float]], requested: str,
               answered_by: str) -> dict[str, float] | None:
    for name in (requested, answered_by):
        if name in prices:
            return prices[name]
    # A dated snapshot ("gpt-4o-mini-2024-07-18", "gpt-4-0613") is priced like its family,
    # while "gpt-4o-mini" is not priced like "gpt-4o".
    family = SNAPSHOT_SUFFIX.sub("", answered_by)
    return prices.get(family)
