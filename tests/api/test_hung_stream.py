"""A third-party LLM provider whose stream hangs before its first piece, in its own code (no
connection the gateway could time out): the request still ends by its deadline, with a 504."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from codex32 import runtime
from codex32.plugins.api import ChatChunk, ChatRequest, ChatResult, LLMProvider
from codex32.plugins.manager import Registration

RELEASE = threading.Event()


class HungProvider(LLMProvider):
    id = "hung"
    title = "Hung"
    config_schema = {"type": "object", "properties": {"model": {"type": "string",
                                                                "default": "hung-1"}}}

    def complete(self, request: ChatRequest) -> ChatResult:
        RELEASE.wait(30)
        return ChatResult(text="late", model="hung-1")

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        RELEASE.wait(30)  # a lock, a socket without a timeout, a busy loop
        yield ChatChunk(text="late")


@pytest.fixture()
def hung(app, tenant, monkeypatch):
    registry = runtime.of(app).plugins.registry["llm"]
    monkeypatch.setitem(registry, "hung", Registration("llm", HungProvider, "c32test_hung"))
    RELEASE.clear()
    yield tenant
    RELEASE.set()


@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_hung_before_its_first_piece_ends_by_the_deadline(hung, stream):
    started = time.monotonic()
    response = hung.call("POST", "/api/v1/llm/chat", json={
        "messages": [{"role": "user", "content": "hi"}], "model": "hung/hung-1",
        "timeout": 1, "stream": stream})

    assert time.monotonic() - started < 5
    assert response.status_code == 504, response.get_data(as_text=True)
