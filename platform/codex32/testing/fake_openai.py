"""A local fake of the OpenAI HTTP API.

For tests only: no network beyond 127.0.0.1, no persistence. It speaks the wire protocol the
official SDK speaks (chat completions with and without SSE streaming, embeddings as floats or
base64, the model list, the error bodies), so a plugin is tested through its real client.

    with FakeOpenAI(api_key="sk-test") as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.url)
        server.enqueue_error(429, retry_after=2)   # the next request gets this answer
        ...
        assert server.requests[-1].json["model"] == "gpt-4o-mini"

As a pytest fixture: ``pytest_plugins = ["codex32.testing.fake_openai"]`` in a root conftest
gives ``fake_openai``, a running server that accepts any key.

Unscripted requests get a deterministic answer: the chat reply echoes the last user message,
usage counts follow the input length, embeddings are unit vectors seeded by the text.

The parts live beside it, and their names are importable from here as before:
:mod:`.fake_server` (the protocol-neutral :class:`ScriptedServer` that
:mod:`codex32.testing.fake_anthropic` shares), :mod:`.fake_answers` (token counts, texts,
schema examples), :mod:`.fake_openai_streaming` (the SSE chunks) and
:mod:`.fake_openai_embeddings` (the vectors).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator

import pytest

from codex32.testing.fake_answers import (
    approx_tokens,
    calls_to_make,
    cut_at_stop,
    example_of,
    split_words,
    structured_schema,
    text_of,
)
from codex32.testing.fake_openai_embeddings import (
    EMBEDDING_DIMENSIONS,
    embeddings_response,
    encode_base64_floats,
    fake_embedding,
)
from codex32.testing.fake_openai_streaming import chat_chunks
from codex32.testing.fake_server import (
    JSONValue,
    RecordedRequest,
    Reply,
    ScriptedResponse,
    ScriptedServer,
)

__all__ = ["EMBEDDING_DIMENSIONS", "OPENAI_ERROR_MESSAGES", "OPENAI_ERROR_TYPES", "FakeOpenAI",
           "JSONValue", "RecordedRequest", "Reply", "ScriptedResponse", "ScriptedServer",
           "approx_tokens", "encode_base64_floats", "example_of", "fake_embedding",
           "fake_openai", "split_words", "structured_schema", "text_of"]

OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}

OPENAI_ERROR_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "Request not allowed.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}



class FakeOpenAI(ScriptedServer):
    """The OpenAI API on 127.0.0.1: ``url`` ends in ``/v1`` like the SDK's default base URL.

    ``api_key`` None accepts any key (a local server such as vLLM); otherwise another key gets
    the API's 401 body. ``models`` extends what ``GET /v1/models`` lists.
    """

    base_path = "/v1"
    request_id_header = "x-request-id"

    def __init__(self, *, api_key: str | None = None, delay: float = 0.0,
                 reply: Reply | None = None, models: Iterable[str] = ()) -> None:
        super().__init__(api_key=api_key, delay=delay, reply=reply)
        self.models = ["gpt-4o-mini", "gpt-4o", *EMBEDDING_DIMENSIONS, *models]

    def authorized(self, request: RecordedRequest) -> bool:
        return self.api_key is None or \
            request.headers.get("authorization") == f"Bearer {self.api_key}"

    def unauthorized(self, request: RecordedRequest) -> ScriptedResponse:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        # The real API echoes a masked key; keep that shape so leaks are testable.
        masked = f"{sent[:3]}{'*' * 8}{sent[-4:]}" if len(sent) > 8 else "****"
        return self.error(401, f"Incorrect API key provided: {masked}. You can find your API "
                               "key at https://platform.openai.com/account/api-keys.")

    def error(self, status: int, message: str | None = None, *, type: str | None = None,
              code: str | None = None) -> ScriptedResponse:
        default_type, default_code = OPENAI_ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return ScriptedResponse(status=status, json={"error": {
            "message": message or OPENAI_ERROR_MESSAGES.get(status, f"HTTP {status}"),
            "type": type or default_type,
            "param": None,
            "code": code if code is not None else default_code,
        }})

    def context_length_error(self) -> ScriptedResponse:
        return self.error(400, "This model's maximum context length is 128000 tokens. However, "
                               "your messages resulted in 130000 tokens.",
                          code="context_length_exceeded")

    def route(self, request: RecordedRequest) -> ScriptedResponse:
        endpoint = (request.method, request.path)
        if endpoint == ("POST", "/v1/chat/completions"):
            return self.chat_completion(request.json)
        if endpoint == ("POST", "/v1/embeddings"):
            return self.embeddings(request.json)
        if endpoint == ("GET", "/v1/models"):
            return ScriptedResponse(json={"object": "list", "data": [
                {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
                for model in self.models]})
        return super().route(request)

    # chat completions

    def chat_completion(self, body: JSONValue) -> ScriptedResponse:
        """A completion answering the last user message; SSE chunks when ``stream`` is true."""
        if not isinstance(body, dict) or not body.get("messages") or not body.get("model"):
            return self.error(400, "'messages' and 'model' are required properties.")
        messages = body["messages"]
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        if json_mode and not any("json" in text_of(m.get("content")).lower() for m in messages):
            return self.error(400, "'messages' must contain the word 'json' in some form, to use "
                                   "'response_format' of type 'json_object'.", code=None)
        last_user = next((text_of(m.get("content")) for m in reversed(messages)
                          if m.get("role") in ("user", "tool")), "")
        calls = [] if messages[-1].get("role") == "tool" else _calls(body, last_user)
        text = "" if calls else self.reply_text(body, last_user)
        schema = structured_schema(body)
        if schema is not None and self.reply is None:
            text = json.dumps(example_of(schema))
        elif json_mode and self.reply is None:
            text = json.dumps({"echo": last_user})
        text, _ = cut_at_stop(text, body.get("stop"))  # the answer ends before it
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "tool_calls" if calls else "stop"
        if limit is not None and approx_tokens(text) > limit:
            text, finish_reason = text[:limit * 4], "length"
        # Chat formatting costs a few tokens per message, as tiktoken's count for chat does.
        prompt_tokens = sum(approx_tokens(text_of(m.get("content"))) + 4 for m in messages) + 3
        prompt_tokens += approx_tokens(json.dumps(body.get("tools") or ""))
        made = [{"id": f"call_fake_{i}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(arguments)}}
                for i, (name, arguments) in enumerate(calls)]
        output = approx_tokens(text) + sum(approx_tokens(json.dumps(c)) for c in made)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": output,
                 "total_tokens": prompt_tokens + output,
                 "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens,
                                                                prompt_tokens)},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        ident, model, created = self.new_id("chatcmpl-"), body["model"], int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            # The calls only when there are some: a test's stand-in for chat_chunks may
            # take the seven arguments it always took.
            return ScriptedResponse(sse=chat_chunks(ident, model, created, text,
                                                    finish_reason, usage, include_usage,
                                                    **({"tool_calls": made} if made else {})),
                                    interval=self.stream_interval)
        return ScriptedResponse(json={
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant",
                                                 "content": None if made else text,
                                                 "refusal": None,
                                                 **({"tool_calls": made} if made else {})},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage,
        })

    def embeddings(self, body: JSONValue) -> ScriptedResponse:
        """Deterministic vectors for each input, as floats or base64 per ``encoding_format``."""
        return embeddings_response(body, self.error)


def _calls(body: dict, asked: str) -> list[tuple[str, JSONValue]]:
    """The calls to answer a request offering ``tools`` with (:func:`calls_to_make`)."""
    tools = [(t["function"]["name"], t["function"].get("parameters"))
             for t in body.get("tools") or [] if isinstance(t, dict)
             and isinstance(t.get("function"), dict) and "name" in t["function"]]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name")
    return calls_to_make(tools, choice, asked, body.get("parallel_tool_calls") is not False)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running :class:`FakeOpenAI` that accepts any key; stopped after the test."""
    with FakeOpenAI() as server:
        yield server
