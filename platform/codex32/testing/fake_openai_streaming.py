"""The OpenAI chat completion as Server-Sent Events, as the fake sends it: a role chunk,
the text in a few content chunks, the finish reason, the usage chunk when asked
(``stream_options.include_usage``), then ``[DONE]``."""

from __future__ import annotations

from typing import Any

from codex32.testing.fake_answers import split_words
from codex32.testing.fake_server import JSONValue


def chat_chunks(ident: str, model: str, created: int, text: str, finish_reason: str,
                usage: dict[str, Any], include_usage: bool,
                tool_calls: list[dict[str, Any]] | None = None
                ) -> list[tuple[None, JSONValue]]:
    """The SSE events ``(None, data)`` of a streamed completion of ``text``, or of its
    ``tool_calls``: each call's id and name first, then its arguments in pieces."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, JSONValue]:
        data: dict[str, Any] = {
            "id": ident, "object": "chat.completion.chunk", "created": created,
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None  # every chunk but the last carries a null usage
        return None, data

    if tool_calls:
        chunks = [chunk({"role": "assistant", "content": None, "refusal": None})]
        for index, call in enumerate(tool_calls):
            chunks.append(chunk({"tool_calls": [{
                "index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            chunks += [chunk({"tool_calls": [{"index": index, "function": {
                "arguments": piece}}]}) for piece in split_words(
                    call["function"]["arguments"])]
    else:
        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": piece}) for piece in split_words(text)]
    chunks.append(chunk({}, finish_reason))
    if include_usage:
        chunks.append((None, {"id": ident, "object": "chat.completion.chunk",
                              "created": created, "model": model,
                              "system_fingerprint": "fp_fake", "choices": [],
                              "usage": usage}))
    chunks.append((None, "[DONE]"))
    return chunks
