"""A third-party LLM provider whose stream hangs before its first piece, in its own code (no
connection the gateway could time out): the request still ends by its deadline, with a 504."""

from __future__ import annotations

import gc
import socket
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


class HeldProvider(LLMProvider):
    """Connects to its upstream (the test's listener), then hangs in its own code before its
    first piece: a read no gateway deadline reaches (a socket of its own, a lock)."""

    id = "held"
    title = "Held"
    config_schema = HungProvider.config_schema
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def complete(self, request: ChatRequest) -> ChatResult:
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        with socket.create_connection(HeldProvider.upstream, timeout=5):
            RELEASE.wait(30)
            yield ChatChunk(text="late")
            yield ChatChunk(text="and more")


def test_a_stream_abandoned_at_its_first_piece_timeout_closes_its_upstream_at_once(
        app, tenant, monkeypatch):
    """The first piece timed out (504); the plugin's stream, still working on its pool, is
    closed as soon as it hands its piece over, not left holding its upstream connection
    until garbage collection finds it (off here: its reference cycle would hide the leak)."""
    registry = runtime.of(app).plugins.registry["llm"]
    monkeypatch.setitem(registry, "held", Registration("llm", HeldProvider, "c32test_held"))
    RELEASE.clear()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        monkeypatch.setattr(HeldProvider, "upstream", listener.getsockname())
        listener.settimeout(5)
        gc.collect()
        gc.disable()
        try:
            response = tenant.call("POST", "/api/v1/llm/chat", json={
                "messages": [{"role": "user", "content": "hi"}], "model": "held/hung-1",
                "timeout": 1, "stream": True})
            assert response.status_code == 504, response.get_data(as_text=True)
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(3)
                RELEASE.set()  # the piece comes now, long after the request gave up
                assert connection.recv(1) == b""  # the upstream connection was closed
        finally:
            RELEASE.set()
            gc.enable()
