"""A stream ends at the gateway's limit (streaming.MAX_STREAM_SECONDS) whatever its upstream
does, even go quiet or send only keep-alives. It is recorded with what it produced and its
reservation settled, long before the maintenance sweep would take its pending row for a dead
process's."""

from __future__ import annotations

import time
from decimal import Decimal

from codex32.services.gateway import streaming
from codex32.testing.fake_anthropic import FakeAnthropic
from tests.gateway.conftest import configure, ledger_rows
from tests.gateway.test_stream_abandoned import assert_settled, budgeted


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
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 3.0)
    configure(chained, servers, timeout=10, llm={"aliases": {"fast": ["openai/gpt-4o-mini"]}})
    servers[0].enqueue(sse=[openai_event({"role": "assistant", "content": "Thinking"}),
                            openai_event({"content": " more"}, "stop"), (None, "[DONE]")],
                       interval=8.0, path="/v1/chat/completions")
    budgeted(chained)
    text, elapsed = streamed(chained, "/api/v1/llm/chat", "fast")
    assert "longer than 3s" in text, text[-400:]
    assert elapsed < 4.0, f"the stream lasted {elapsed:.1f}s (limit 3s)"
    assert_timed_out(database, chained)


def test_a_stream_whose_upstream_only_pings_ends_at_the_gateways_limit(
        database, chained, servers, monkeypatch):
    """Anthropic sends ``ping`` events while a model works; the plugin swallowed them, and each
    one restarted the provider's read timeout: the stream outlived the gateway's limit for as
    long as the pings came (and past the sweep's age, charged at its maximum)."""
    monkeypatch.setattr(streaming, "MAX_STREAM_SECONDS", 3.0)
    events = FakeAnthropic._events("msg_1", "claude-sonnet-4-6", "Thinking", "end_turn", 10, 1)
    first_text = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
    events[first_text + 1:first_text + 1] = [("ping", {"type": "ping"})] * 50
    servers[1].enqueue(sse=events, interval=0.1, path="/v1/messages")
    budgeted(chained)
    text, elapsed = streamed(chained, "/api/v1/openai/chat/completions", "smart")
    assert "longer than 3s" in text, text[-400:]
    assert elapsed < 4.0, f"the stream lasted {elapsed:.1f}s (limit 3s)"
    assert_timed_out(database, chained)


def test_an_upstream_that_pings_before_its_first_words_ends_at_the_requests_deadline(
        chained, servers):
    """Before the first words the router waits, under the request's deadline; pings restarted
    the provider's read timeout, so the opening outlived the deadline for as long as they came."""
    events = FakeAnthropic._events("msg_1", "claude-sonnet-4-6", "Thinking", "end_turn", 10, 1)
    first_text = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
    events[first_text:first_text] = [("ping", {"type": "ping"})] * 60
    servers[1].enqueue(sse=events, interval=0.1, path="/v1/messages")
    budgeted(chained)
    started = time.monotonic()
    response = chained.call("POST", "/api/v1/llm/chat", json={
        "model": "smart", "stream": True, "timeout": 2,
        "messages": [{"role": "user", "content": "hi"}]})
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.get_data(as_text=True)
    assert elapsed < 3.5, f"the opening lasted {elapsed:.1f}s (deadline 2s)"
    budget = chained.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(budget["reserved_usd"]) == 0, budget
