"""A stream ends at the gateway's limit (streaming.MAX_STREAM_SECONDS) whatever its upstream
and its client do: an upstream that goes quiet, or sends only keep-alives, and a client that
stops reading. It is recorded with what it produced and its reservation settled, long before
the maintenance sweep would take its pending row for a dead process's."""

from __future__ import annotations

import json
import socket
import threading
import time
from decimal import Decimal

import pytest
from werkzeug.test import EnvironBuilder

from codex32.api import openings
from codex32.services.gateway import records, streaming
from codex32.testing.fake_anthropic import FakeAnthropic
from tests.gateway.conftest import configure, ledger_rows
from tests.gateway.test_stream_abandoned import LONG, assert_settled, budgeted


def openai_event(delta: dict, finish: str | None = None) -> tuple[None, dict]:
    return None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                  "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta,
                                                       "finish_reason": finish}]}


def streamed(tenant, path: str, model: str) -> tuple[str, float]:
    """The whole body of a streamed chat and the seconds it took."""
    started = time.monotonic()
    response = tenant.call("POST", path, json={
        "model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True), time.monotonic() - started


def assert_timed_out(database, tenant) -> None:
    """One row, recorded as the gateway's time limit with the tokens produced, settled."""
    assert_settled(tenant)
    [row] = ledger_rows(database, tenant.workspace_id, "status, error, output_tokens")
    assert row["status"] == "timeout" and row["error"] == "stream_too_long", row
    assert row["output_tokens"] > 0, row


def test_a_stream_whose_upstream_goes_quiet_ends_at_the_gateways_limit(
        database, chained, servers, monkeypatch):
    """After its first words the upstream sends nothing for longer than the stream may last:
    the gateway's check, which ran only when a chunk arrived, waited for the provider's read
    timeout (10 s here, up to 600 s as configured) before the stream could end."""
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 1.5)
    configure(chained, servers, timeout=10, llm={"aliases": {"fast": ["openai/gpt-4o-mini"]}})
    servers[0].enqueue(sse=[openai_event({"role": "assistant", "content": "Thinking"}),
                            openai_event({"content": " more"}, "stop"), (None, "[DONE]")],
                       interval=15.0, path="/v1/chat/completions")
    budgeted(chained)
    text, elapsed = streamed(chained, "/api/v1/llm/chat", "fast")
    assert "longer than 1.5s" in text, text[-400:]
    assert elapsed < 8, f"the stream lasted {elapsed:.1f}s (limit 1.5s, upstream 15s)"
    assert_timed_out(database, chained)


def test_a_stream_whose_upstream_only_pings_ends_at_the_gateways_limit(
        database, chained, servers, monkeypatch):
    """Anthropic sends ``ping`` events while a model works; the plugin swallowed them, and each
    one restarted the provider's read timeout: the stream outlived the gateway's limit for as
    long as the pings came (and past the sweep's age, charged at its maximum)."""
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 1.5)
    events = FakeAnthropic._events("msg_1", "claude-sonnet-4-6", "Thinking", "end_turn", 10, 1)
    first_text = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
    events[first_text + 1:first_text + 1] = [("ping", {"type": "ping"})] * 150
    servers[1].enqueue(sse=events, interval=0.1, path="/v1/messages")
    budgeted(chained)
    text, elapsed = streamed(chained, "/api/v1/openai/chat/completions", "smart")
    assert "longer than 1.5s" in text, text[-400:]
    assert elapsed < 8, f"the stream lasted {elapsed:.1f}s (limit 1.5s, upstream 15s)"
    assert_timed_out(database, chained)


def test_an_upstream_that_pings_before_its_first_words_ends_at_the_requests_deadline(
        chained, servers):
    """Before the first words the router waits, under the request's deadline; pings restarted
    the provider's read timeout, so the opening outlived the deadline for as long as they came."""
    events = FakeAnthropic._events("msg_1", "claude-sonnet-4-6", "Thinking", "end_turn", 10, 1)
    first_text = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
    events[first_text:first_text] = [("ping", {"type": "ping"})] * 150
    servers[1].enqueue(sse=events, interval=0.1, path="/v1/messages")
    budgeted(chained)
    started = time.monotonic()
    response = chained.call("POST", "/api/v1/llm/chat", json={
        "model": "smart", "stream": True, "timeout": 2,
        "messages": [{"role": "user", "content": "hi"}]})
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.get_data(as_text=True)
    assert elapsed < 8, f"the opening lasted {elapsed:.1f}s (deadline 2s, pings 15s)"
    budget = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(budget["reserved_usd"]) == 0, budget


@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions"])
def test_a_client_that_stops_reading_ends_its_stream_within_the_write_timeout(
        app, chained, servers, monkeypatch, path):
    """A client that reads nothing while its socket buffer is full holds the server's write:
    the relay never reaches its next time check. Under gunicorn (which passes its socket as
    ``gunicorn.socket`` and writes each piece with ``sendall``, as below), the write fails
    after openings.WRITE_TIMEOUT_SECONDS, the body is closed, and the stream is recorded and
    settled. Before, the write waited for as long as the client held its connection open."""
    monkeypatch.setattr(openings, "WRITE_TIMEOUT_SECONDS", 0.5)
    servers[0].stream_interval = 0.2
    budgeted(chained)
    server, client = socket.socketpair()
    server.setblocking(False)
    try:  # fill the client's buffers: the next write blocks
        while True:
            server.send(b"x" * 65536)
    except BlockingIOError:
        pass
    server.setblocking(True)
    environ = EnvironBuilder(path=path, method="POST", headers=chained.headers,
                             data=json.dumps({"model": "fast", "stream": True, "messages": [
                                 {"role": "user", "content": LONG}]}),
                             content_type="application/json").get_environ()
    environ["gunicorn.socket"] = server
    failed: list[OSError] = []

    def serve() -> None:  # gunicorn's gthread worker: write each piece, then close the body
        body = app(environ, lambda status, headers, exc_info=None: None)
        try:
            for piece in body:
                server.sendall(piece)
        except OSError as exc:
            failed.append(exc)
        finally:
            body.close()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        worker.join(15)
        assert not worker.is_alive(), "the write to a client that reads nothing never ended"
        assert failed and isinstance(failed[0], TimeoutError), failed
        assert_settled(chained)
    finally:
        client.close()  # unblocks the write on the old code
        worker.join(5)
        server.close()


def test_the_write_timeout_ends_a_stream_before_the_sweep_takes_it():
    """The longest a stream holds its pending row: its limit, then one blocked write."""
    assert (streaming.MAX_STREAM_SECONDS + openings.WRITE_TIMEOUT_SECONDS
            < records.STALE_AFTER_SECONDS)


def test_a_stream_cut_at_its_deadline_before_its_first_words_charges_its_prompt(
        database, chained, servers):
    """The provider had the prompt (it may bill its input) when the deadline cut the opening:
    the row was recorded at 0 tokens and cost 0, and the budget charged nothing, though a
    stream cut after its first words charges its prompt's counted tokens."""
    events = FakeAnthropic._events("msg_1", "claude-sonnet-4-6", "Thinking", "end_turn", 10, 1)
    first_text = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
    events[first_text:first_text] = [("ping", {"type": "ping"})] * 150
    servers[1].enqueue(sse=events, interval=0.1, path="/v1/messages")
    budgeted(chained)
    response = chained.call("POST", "/api/v1/llm/chat", json={
        "model": "smart", "stream": True, "timeout": 2,
        "messages": [{"role": "user", "content": LONG}]})
    assert response.status_code == 504, response.get_data(as_text=True)
    [row] = ledger_rows(database, chained.workspace_id,
                        "status, provider, model, input_tokens, output_tokens, cost_usd")
    assert row["status"] == "timeout" and row["provider"] == "anthropic", row
    assert row["model"] == "claude-sonnet-4-6", row
    assert row["input_tokens"] >= 60 and row["output_tokens"] == 0, row
    assert row["cost_usd"] > 0, row
    budget = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(budget["reserved_usd"]) == 0, budget
    assert Decimal(budget["spent_usd"]) == row["cost_usd"], budget


def test_a_stream_flowing_when_its_process_stops_ends_in_time_to_be_recorded(
        database, chained, servers, monkeypatch):
    """A worker's graceful stop: a stream flowing would be killed with its process at the end
    of graceful_timeout, its record never written (the sweep charging its maximum an hour
    later). It ends at the stop's deadline (background.stop_by), recorded with what it
    produced and settled, before the worker is killed."""
    from codex32.runtime import background

    monkeypatch.setattr(background, "_stop_by", None)
    configure(chained, servers, llm={"aliases": {"fast": ["openai/gpt-4o-mini"]}})
    servers[0].enqueue(sse=[openai_event({"role": "assistant", "content": "Thinking"}),
                            *[openai_event({"content": " more"})] * 10,
                            openai_event({"content": "."}, "stop"), (None, "[DONE]")],
                       interval=0.5, path="/v1/chat/completions")
    budgeted(chained)
    response = chained.call("POST", "/api/v1/llm/chat", buffered=False, json={
        "model": "fast", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    started = time.monotonic()
    background.stop_by(started + 1.0)
    text = b"".join(response.response).decode()
    response.close()
    assert time.monotonic() - started < 3, text
    assert "stopping" in text, text[-400:]
    assert_settled(chained)
    [row] = ledger_rows(database, chained.workspace_id, "status, error, output_tokens")
    assert row["status"] == "timeout" and row["error"] == "server_stopping", row
    assert row["output_tokens"] > 0, row


def test_a_stream_ended_at_its_time_limit_says_504_in_its_error_event(
        chained, servers, monkeypatch):
    """The gateway's own time limit is a timeout; the ``error`` event said 502 (Bad Gateway)
    for every error, whatever the status the same failure has before the first piece."""
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 1.0)
    configure(chained, servers, timeout=10, llm={"aliases": {"fast": ["openai/gpt-4o-mini"]}})
    servers[0].enqueue(sse=[openai_event({"role": "assistant", "content": "Thinking"}),
                            openai_event({"content": " more"}, "stop"), (None, "[DONE]")],
                       interval=5.0, path="/v1/chat/completions")
    text, _ = streamed(chained, "/api/v1/llm/chat", "fast")
    [error] = [json.loads(block.split("data: ", 1)[1]) for block in text.split("\n\n")
               if block.startswith("event: error")]
    assert error["code"] == 504 and "longer than 1s" in error["message"], error
