"""A stream abandoned at any point (before its first piece is read, mid-stream, or never read
at all) stops the upstream call, records what was produced and settles its budget
reservation: nothing stays reserved."""

from __future__ import annotations

import gc
import json
import socket
import time
from decimal import Decimal

import pytest
from werkzeug.test import EnvironBuilder

from codex32.db import db, tenancy
from codex32.services import gateway
from codex32.services.gateway import records, streaming
from tests.conftest import serving
from tests.gateway.conftest import ask

LONG = " ".join(["word"] * 60)


def budgeted(tenant) -> None:
    response = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": "5"}]})
    assert response.status_code == 200, response.json


def assert_settled(tenant) -> None:
    """No reservation left, the produced tokens charged, one cancelled request recorded."""
    budget = tenant.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(budget["reserved_usd"]) == 0, budget
    assert Decimal(budget["spent_usd"]) > 0, budget
    usage = tenant.call("GET", "/api/v1/usage").json["groups"]
    assert len(usage) == 1 and usage[0]["requests"] == 1, usage
    assert usage[0]["failed_requests"] == 1 and usage[0]["output_tokens"] > 0, usage


def open_stream(tenant) -> gateway.GatewayStream:
    """A stream opened as a service opens it (inside an app context)."""
    tenancy.bind(db.session, tenant.workspace_id)
    try:
        return gateway.stream(tenant.workspace_id, ask(LONG, model="fast"), purpose="builder")
    finally:
        db.session.remove()
        tenancy.unbind()


def wait_for(condition, seconds: float = 3.0) -> bool:
    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.02)
    return True


def test_a_stream_closed_before_its_first_piece_is_read_settles_its_reservation(
        app, chained, servers):
    servers[0].stream_interval = 0.2
    budgeted(chained)
    with app.app_context():
        open_stream(chained).close()
    assert_settled(chained)
    assert wait_for(lambda: servers[0].aborted == 1)  # upstream stopped too


def test_a_stream_dropped_without_being_read_settles_its_reservation(app, chained):
    budgeted(chained)
    with app.app_context():
        opened = open_stream(chained)
        del opened
        gc.collect()  # the relay and its stream refer to each other: a cycle
    assert_settled(chained)


def test_an_openai_client_gone_before_the_first_content_settles_its_reservation(
        chained, servers):
    servers[0].stream_interval = 0.2
    budgeted(chained)
    response = chained.call("POST", "/api/v1/openai/chat/completions", json={
        "model": "fast", "stream": True, "messages": [{"role": "user", "content": LONG}]},
        buffered=False)
    assert response.status_code == 200
    assert b'"role": "assistant"' in next(iter(response.response))  # no content read yet
    response.close()  # what the server does when the client disconnects
    assert_settled(chained)
    assert wait_for(lambda: servers[0].aborted == 1)


@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions"])
def test_a_body_closed_before_it_is_started_settles_at_once(app, chained, servers, path):
    """A WSGI server or middleware may close a response's body without pulling a byte of it
    (PEP 3333 allows it; gunicorn, werkzeug's server and its test client all pull the first
    piece before they can fail). The view's generator then never starts: only the response's
    ``call_on_close`` records the stream. Garbage collection is off, so the relay's reference
    cycle cannot stand in for it (collected later, at a time nobody chooses)."""
    servers[0].stream_interval = 0.2
    budgeted(chained)
    environ = EnvironBuilder(path=path, method="POST", headers=chained.headers, json={
        "model": "fast", "stream": True,
        "messages": [{"role": "user", "content": LONG}]}).get_environ()
    started: list[str] = []
    gc.collect()
    gc.disable()
    try:
        body = app(environ, lambda status, headers, exc_info=None: started.append(status))
        assert started == ["200 OK"]
        body.close()  # not one piece pulled
        assert _reserved(chained) == 0  # settled by the close itself
    finally:
        gc.enable()
    assert_settled(chained)
    assert wait_for(lambda: servers[0].aborted == 1)


@pytest.fixture()
def served(app):
    """The app under a real WSGI server (werkzeug's, threaded) on 127.0.0.1: unlike the test
    client, it notices a client that went away only when a write fails, then closes the body
    as every WSGI server does.

    Like gunicorn's workers, it always starts a response's body before it can fail to write
    it (it pulls the first piece, then writes the headers with it), so the body's own
    ``finally`` records the stream and these tests pass without the views' ``call_on_close``:
    no client of a real server can make it close a body unread. That guard is for a server or
    middleware that does; the test above proves it.
    """
    with serving(app) as port:
        yield port


@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions"])
def test_a_client_gone_before_reading_a_byte_settles_its_reservation(
        chained, servers, served, path):
    servers[0].stream_interval = 0.2
    budgeted(chained)
    body = json.dumps({"model": "fast", "stream": True,
                       "messages": [{"role": "user", "content": LONG}]}).encode()
    with socket.create_connection(("127.0.0.1", served), timeout=5) as client:
        client.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: Bearer {chained.access_token}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                       f"\r\n".encode() + body)
    # Gone without reading: the server learns it from a failed write, closes the response,
    # and the stream is recorded (cancelled, what was produced charged) and settled.
    assert wait_for(lambda: servers[0].aborted == 1, seconds=10)  # upstream stopped
    assert wait_for(lambda: _reserved(chained) == 0, seconds=10)
    assert_settled(chained)


def _reserved(tenant) -> Decimal:
    return Decimal(tenant.call("GET", "/api/v1/budgets").json[0]["reserved_usd"])


def test_a_client_gone_mid_stream_stops_upstream_and_settles(chained, servers):
    servers[0].stream_interval = 0.2
    budgeted(chained)
    response = chained.call("POST", "/api/v1/llm/chat", json={
        "model": "fast", "stream": True, "messages": [{"role": "user", "content": LONG}]},
        buffered=False)
    pieces = iter(response.response)
    assert b"chunk" in next(pieces) and b"chunk" in next(pieces)
    response.close()
    assert_settled(chained)
    assert wait_for(lambda: servers[0].aborted == 1)


@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions"])
def test_a_stream_longer_than_the_gateway_relays_ends_as_a_timeout_and_is_settled(
        chained, servers, monkeypatch, path):
    """A stream flowing past MAX_STREAM_SECONDS ends (an error event, the upstream call
    stopped) and is recorded as a timeout with what it produced: the maintenance sweep, which
    takes rows pending for twice that long for a dead process's, never charges a live
    stream at its maximum."""
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 0.3)
    assert streaming.MAX_STREAM_SECONDS < records.STALE_AFTER_SECONDS
    servers[0].stream_interval = 0.4  # six events: over two seconds
    budgeted(chained)
    response = chained.call("POST", path, json={
        "model": "fast", "stream": True, "messages": [{"role": "user", "content": LONG}]})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "longer than 0.3s" in text, text[-400:]
    assert wait_for(lambda: servers[0].aborted == 1)  # upstream stopped
    budget = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(budget["reserved_usd"]) == 0 and Decimal(budget["spent_usd"]) > 0, budget
    usage = chained.call("GET", "/api/v1/usage", query_string={"group_by": "purpose"}).json
    [group] = usage["groups"]
    assert group["requests"] == 1 and group["output_tokens"] > 0, group
    assert group["pending_requests"] == 0, group


def test_a_stream_that_goes_on_with_empty_deltas_still_ends_at_the_gateways_limit(
        chained, servers, monkeypatch):
    """An upstream that keeps sending chunks without text (a reasoning model's
    reasoning_content, keep-alive deltas) after its first words never reached the gateway's
    time check, which runs between the chunks the provider yields: it flowed past
    MAX_STREAM_SECONDS, where the sweep charges a live stream at its maximum."""
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 1.0)

    def event(delta: dict, finish: str | None = None) -> tuple[None, dict]:
        return None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                      "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta,
                                                           "finish_reason": finish}]}

    servers[0].enqueue(sse=[event({"role": "assistant", "content": "Thinking"}),
                            *[event({}) for _ in range(20)], event({}, "stop"),
                            (None, "[DONE]")],
                       interval=0.2, path="/v1/chat/completions")
    budgeted(chained)
    started = time.monotonic()
    response = chained.call("POST", "/api/v1/llm/chat", json={
        "model": "fast", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    elapsed = time.monotonic() - started
    assert "longer than 1s" in text, text[-400:]
    assert elapsed < 2.5, f"the stream flowed {elapsed:.1f}s (upstream: 4.4s)"
    assert wait_for(lambda: servers[0].aborted == 1)  # upstream stopped
    assert_settled(chained)
