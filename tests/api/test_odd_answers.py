"""A third-party LLM provider that answers the wrong types: the gateway treats the answer as a
failed attempt (a 502 naming the provider, recorded as failed), never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codex32 import runtime
from codex32.plugins.api import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    LLMProvider,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from codex32.plugins.manager import Registration
from tests.gateway.conftest import ledger_rows

ANSWERS = {
    "a dict": {"text": "hi", "model": "odd-1"},
    "no text": ChatResult(text=None, model="odd-1"),  # type: ignore[arg-type]
    "text of another type": ChatResult(text=["hi"], model="odd-1"),  # type: ignore[arg-type]
    "usage of another type": ChatResult(text="hi", model="odd-1",
                                        usage={"input_tokens": 1}),  # type: ignore[arg-type]
    "counts of another type": ChatResult(text="hi", model="odd-1",
                                         usage=Usage(input_tokens="9")),  # type: ignore[arg-type]
    "a model of another type": ChatResult(text="hi", model=7),  # type: ignore[arg-type]
    "tool calls of another type": ChatResult(text="", model="odd-1", tool_calls=[
        {"id": "c", "name": "f", "arguments": "{}"}]),  # type: ignore[list-item]
    "a tool call's arguments of another type": ChatResult(text="", model="odd-1", tool_calls=(
        ToolCall("c", "f", {"a": 1}),)),  # type: ignore[arg-type]
    "a tool call without an id": ChatResult(text="", model="odd-1", tool_calls=(
        ToolCall(None, "f", "{}"),)),  # type: ignore[arg-type]
    "a tool call without a name": ChatResult(text="", model="odd-1", tool_calls=(
        ToolCall("c", None, "{}"),)),  # type: ignore[arg-type]
}
PIECES = {
    "strings": ["hi", "there"],
    "dicts": [{"text": "hi"}],
    "text of another type": [ChatChunk(text=5)],  # type: ignore[arg-type]
    "usage of another type": [ChatChunk(text="hi"), ChatChunk(usage=3)],  # type: ignore[arg-type]
    "tool call pieces of another type": [ChatChunk(text="hi"), ChatChunk(
        tool_calls=(ToolCall("c", "f"),))],  # type: ignore[arg-type]
    "a tool call piece without arguments": [ChatChunk(tool_calls=(
        ToolCallDelta(0, "c", "f", None),))],  # type: ignore[arg-type]
}


class OddProvider(LLMProvider):
    id = "odd"
    title = "Odd"
    config_schema = {"type": "object", "additionalProperties": False,
                     "properties": {"model": {"type": "string", "default": "odd-1"}}}
    answer: object = None
    pieces: list[object] = []

    def complete(self, request: ChatRequest) -> ChatResult:
        return self.answer  # type: ignore[return-value]

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        yield from self.pieces  # type: ignore[misc]


@pytest.fixture()
def odd(app, tenant, monkeypatch):
    registry = runtime.of(app).plugins.registry["llm"]
    monkeypatch.setitem(registry, "odd", Registration("llm", OddProvider, "c32test_odd"))
    return tenant


BODY = {"messages": [{"role": "user", "content": "hi"}], "model": "odd/odd-1", "cache": False}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=list(ANSWERS))
def test_an_answer_of_the_wrong_type_is_a_502(odd, monkeypatch, answer):
    monkeypatch.setattr(OddProvider, "answer", answer)

    response = odd.call("POST", "/api/v1/llm/chat", json=BODY)

    assert response.status_code == 502, response.get_data(as_text=True)
    assert "odd" in response.json["message"]


@pytest.mark.parametrize("pieces", PIECES.values(), ids=list(PIECES))
def test_a_stream_of_the_wrong_type_ends_with_an_error(odd, monkeypatch, pieces, database):
    monkeypatch.setattr(OddProvider, "pieces", pieces)

    response = odd.call("POST", "/api/v1/llm/chat", json={**BODY, "stream": True})

    text = response.get_data(as_text=True)
    assert response.status_code in (200, 502), text
    assert "error" in text and "Internal" not in text, text
    # Recorded as the failed attempt it was: nothing left pending for the sweep to charge.
    rows = ledger_rows(database, odd.workspace_id, "status")
    assert rows and "pending" not in {row["status"] for row in rows}, rows
