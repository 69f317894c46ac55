"""A local fake of the Anthropic Messages API, for tests only.

It speaks the wire protocol the official SDK speaks: ``POST /v1/messages`` answered with content
blocks, real-looking usage and a stop reason, or with named SSE events when ``stream`` is true
(``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``,
``content_block_stop``, ``message_delta``, ``message_stop``); ``GET /v1/models``; and the error
body ``{"type": "error", "error": {"type", "message"}}`` for every status, 529 included.

    with FakeAnthropic(api_key="sk-ant-test") as server:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.url)
        server.enqueue_error(529)                 # the next request is "overloaded"

As a pytest fixture: ``pytest_plugins = ["codex32.testing.fake_anthropic"]`` in a root conftest
gives ``fake_anthropic``, a running server that accepts any key. Scripting, recording and
delays come from :class:`codex32.testing.fake_openai.ScriptedServer`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from codex32.testing.fake_answers import calls_to_make, cut_at_stop
from codex32.testing.fake_openai import (
    JSONValue,
    RecordedRequest,
    Reply,
    ScriptedResponse,
    ScriptedServer,
    approx_tokens,
    example_of,
    split_words,
    structured_schema,
    text_of,
)

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

ANTHROPIC_ERROR_MESSAGES = {
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource could not be found.",
    429: "Number of request tokens has exceeded your per-minute rate limit.",
    500: "Internal server error",
    529: "Overloaded",
}


class FakeAnthropic(ScriptedServer):
    """The Anthropic API on 127.0.0.1: ``url`` is the origin, like the SDK's default base URL.

    ``api_key`` None accepts any key; otherwise a request without it (``x-api-key`` or bearer
    token) gets a 401. Requests
    without ``anthropic-version`` are refused with 400, as the real API does.
    """

    base_path = ""
    request_id_header = "request-id"

    def __init__(self, *, api_key: str | None = None, delay: float = 0.0,
                 reply: Reply | None = None, models: Iterable[str] = ()) -> None:
        super().__init__(api_key=api_key, delay=delay, reply=reply)
        self.models = ["claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7", *models]

    def authorized(self, request: RecordedRequest) -> bool:
        # Older SDKs send ``x-api-key``; anthropic 2.x sends ``Authorization: Bearer``.
        return self.api_key is None or self.api_key in (
            request.headers.get("x-api-key"),
            request.headers.get("authorization", "").removeprefix("Bearer "))

    def unauthorized(self, request: RecordedRequest) -> ScriptedResponse:
        return self.error(401)

    def error(self, status: int, message: str | None = None, *, type: str | None = None,
              code: str | None = None) -> ScriptedResponse:
        error_type = type or ANTHROPIC_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error")
        return ScriptedResponse(status=status, json={
            "type": "error",
            "error": {"type": error_type,
                      "message": message or ANTHROPIC_ERROR_MESSAGES.get(status, error_type)},
            "request_id": self.new_id("req_"),
        })

    def context_length_error(self) -> ScriptedResponse:
        return self.error(400, "prompt is too long: 210000 tokens > 200000 maximum")

    def route(self, request: RecordedRequest) -> ScriptedResponse:
        if request.path.startswith("/v1/") and "anthropic-version" not in request.headers:
            return self.error(400, "anthropic-version: header is required")
        endpoint = (request.method, request.path)
        if endpoint == ("POST", "/v1/messages"):
            return self.message(request.json)
        if endpoint == ("GET", "/v1/models"):
            data = [{"type": "model", "id": model, "display_name": model,
                     "created_at": "2025-01-01T00:00:00Z"} for model in self.models]
            return ScriptedResponse(json={"data": data, "has_more": False,
                                          "first_id": data[0]["id"], "last_id": data[-1]["id"]})
        return super().route(request)

    def message(self, body: JSONValue) -> ScriptedResponse:
        """A message answering the last user turn; SSE events when ``stream`` is true."""
        if not isinstance(body, dict):
            return self.error(400, "request body must be a JSON object")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return self.error(400, f"{name}: Field required")
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= temperature <= 1:
            return self.error(400, "temperature: Input should be less than or equal to 1")
        messages = body["messages"]
        if any(m.get("role") not in ("user", "assistant") for m in messages):
            # System prompts go in the top-level ``system`` field, never in ``messages``.
            return self.error(400, "messages: roles must be 'user' or 'assistant'")
        turn = next((m.get("content") for m in reversed(messages)
                     if m.get("role") == "user"), "")
        results = _tool_results(turn)
        last_user = text_of(turn) if results is None else results
        text = self.reply_text(body, last_user)
        schema = structured_schema(body)
        if schema is not None and self.reply is None:
            text = json.dumps(example_of(schema))
        tool = _tool_call(body, text) if schema is not None else None
        calls = [] if schema is not None or results is not None else _calls(body, last_user)
        stop_reason = "tool_use" if tool or calls else "end_turn"
        stop_sequence = None
        if calls:
            blocks = [{"type": "tool_use", "id": f"toolu_fake_{i}", "name": name,
                       "input": arguments} for i, (name, arguments) in enumerate(calls)]
            text = ""
        if tool is None and not calls:
            text, stop_sequence = cut_at_stop(text, body.get("stop_sequences"))
            stop_reason = "stop_sequence" if stop_sequence else stop_reason
        if approx_tokens(text) > body["max_tokens"]:
            text, stop_reason = text[:body["max_tokens"] * 4], "max_tokens"
            stop_sequence = None
            tool = None
        input_tokens = approx_tokens(text_of(body.get("system", ""))) + sum(
            approx_tokens(text_of(m.get("content"))) + 3 for m in messages) + 5
        input_tokens += approx_tokens(json.dumps(body.get("tools") or ""))
        output_tokens = approx_tokens(text) + sum(approx_tokens(json.dumps(b["input"]))
                                                  for b in (blocks if calls else []))
        ident, model = self.new_id("msg_"), body["model"]
        content = blocks if calls else [tool or {"type": "text", "text": text}]
        if body.get("stream"):
            return ScriptedResponse(sse=self._events(ident, model, text, stop_reason,
                                                     input_tokens, output_tokens, tool,
                                                     stop_sequence,
                                                     blocks if calls else None),
                                    interval=self.stream_interval)
        return ScriptedResponse(json={
            "id": ident, "type": "message", "role": "assistant", "model": model,
            "content": content,
            "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": _usage(input_tokens, output_tokens),
        })

    @staticmethod
    def _events(ident: str, model: str, text: str, stop_reason: str, input_tokens: int,
                output_tokens: int, tool: dict[str, Any] | None = None,
                stop_sequence: str | None = None,
                calls: list[dict[str, Any]] | None = None) -> list[tuple[str, JSONValue]]:
        events: list[tuple[str, JSONValue]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": ident, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": _usage(input_tokens, 1)}}),
        ]
        for index, whole in enumerate(calls or [tool or {"type": "text", "text": text}]):
            block = {**whole, "input": {}} if whole["type"] == "tool_use" else {
                "type": "text", "text": ""}
            events.append(("content_block_start", {"type": "content_block_start",
                                                   "index": index, "content_block": block}))
            if index == 0:
                events.append(("ping", {"type": "ping"}))
            # A tool's input streams as pieces of its JSON text, as the API sends it.
            deltas = ({"type": "input_json_delta", "partial_json": piece} for piece in
                      split_words(json.dumps(whole["input"]))) if "input" in whole else (
                {"type": "text_delta", "text": piece} for piece in split_words(text))
            events += [("content_block_delta", {"type": "content_block_delta",
                                                 "index": index, "delta": delta})
                       for delta in deltas]
            events.append(("content_block_stop", {"type": "content_block_stop",
                                                  "index": index}))
        events += [
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop_reason,
                                         "stop_sequence": stop_sequence},
                               "usage": {"output_tokens": output_tokens}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events

    def stream_error_events(self, status: int = 529, message: str | None = None
                            ) -> list[tuple[str, JSONValue]]:
        """The events of a stream that starts, then fails with an ``error`` event."""
        error = self.error(status, message).json
        return [
            ("message_start", {"type": "message_start", "message": {
                "id": self.new_id("msg_"), "type": "message", "role": "assistant",
                "model": "claude-haiku-4-5", "content": [], "stop_reason": None,
                "stop_sequence": None, "usage": _usage(10, 1)}}),
            ("error", {"type": "error", "error": error["error"]}),
        ]


def _tool_call(body: dict[str, Any], text: str) -> dict[str, Any] | None:
    """The ``tool_use`` block calling the forced tool with ``text`` as its input; None when
    ``text`` is no JSON object (the fake then answers it as text)."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    return {"type": "tool_use", "id": "toolu_fake", "name": body["tool_choice"]["name"],
            "input": found}


def _tool_results(content: JSONValue) -> str | None:
    """The text of the ``tool_result`` blocks of a user turn, None when it holds none."""
    if not isinstance(content, list):
        return None
    found = [part for part in content if isinstance(part, dict)
             and part.get("type") == "tool_result"]
    if not found:
        return None
    return " ".join(text_of(part.get("content")) for part in found)


def _calls(body: dict[str, Any], asked: str) -> list[tuple[str, JSONValue]]:
    """The calls to answer a request offering ``tools`` with (:func:`calls_to_make`)."""
    tools = [(t["name"], t.get("input_schema")) for t in body.get("tools") or []
             if isinstance(t, dict) and "name" in t]
    choice = body.get("tool_choice") or {}
    kind = str(choice.get("type"))
    mode = {"auto": "auto", "any": "required", "none": "none"}.get(kind, choice.get("name"))
    return calls_to_make(tools, mode, asked, not choice.get("disable_parallel_tool_use"))


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "service_tier": "standard"}



@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running :class:`FakeAnthropic` that accepts any key; stopped after the test."""
    with FakeAnthropic() as server:
        yield server
