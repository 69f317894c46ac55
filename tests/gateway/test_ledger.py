"""The ledger: one row per request naming who answered and the failed attempts, exact
decimal costs from genai-prices (or the workspace's price), unknown prices left unknown, the
usage API's totals equal to the rows, and metrics without workspace labels."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import genai_prices
import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from codex32.db import db, tenancy
from codex32.errors import BadGateway
from codex32.plugins.interfaces import Usage
from codex32.services.gateway import ledger
from codex32.services.gateway.calls import Caller
from tests.gateway.conftest import ask, chat, configure, ledger_rows, without_usage


def rows(database, workspace_id: str) -> list[dict]:
    return ledger_rows(database, workspace_id, "provider, model, purpose, input_tokens, "
                       "cached_input_tokens, output_tokens, cost_usd, status, attempts, "
                       "cache_hit, user_id")


def test_a_row_names_who_answered_the_failed_attempts_and_the_exact_cost(
        app, chained, servers, database):
    servers[0].cached_tokens = 4
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")
    servers[1].enqueue_failure("overloaded")
    result = chat(app, chained, ask(model="fast"))
    (row,) = rows(database, chained.workspace_id)
    assert (row["provider"], row["model"], row["purpose"], row["status"]) == (
        "anthropic", "claude-haiku-4-5", "builder", "ok")
    assert [(a["provider"], a["error"]) for a in row["attempts"]] == [
        ("openai", "server"), ("openai", "server"), ("anthropic", "overloaded")]
    listed = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"]),
        model_ref="claude-haiku-4-5", provider_id="anthropic").total_price
    assert isinstance(row["cost_usd"], Decimal) and row["cost_usd"] == listed > 0
    assert result.cost_usd == listed and result.usage_id is not None


def test_cached_input_is_recorded_and_priced_at_the_cache_rate(app, chained, servers,
                                                               database):
    servers[0].cached_tokens = 10
    chat(app, chained, ask("a prompt " * 20, model="openai/gpt-4o-mini"))
    (row,) = rows(database, chained.workspace_id)
    assert row["cached_input_tokens"] == 10
    uncached = genai_prices.calc_price(genai_prices.Usage(
        input_tokens=row["input_tokens"], output_tokens=row["output_tokens"]),
        model_ref="gpt-4o-mini", provider_id="openai").total_price
    assert row["cost_usd"] < uncached


def test_an_unknown_model_is_recorded_with_cost_unknown_not_zero(app, chained, database):
    chat(app, chained, ask(model="openai/my-finetune-v3"))
    (row,) = rows(database, chained.workspace_id)
    assert row["model"] == "my-finetune-v3" and row["cost_usd"] is None


def test_a_workspace_price_overrides_the_listed_one(app, tenant, servers, database):
    configure(tenant, servers, llm={"prices": {"openai/gpt-4o-mini": {
        "input": "1", "output": "2"}}})
    result = chat(app, tenant, ask(model="openai/gpt-4o-mini"))
    expected = (Decimal(result.usage.input_tokens) * 1
                + Decimal(result.usage.output_tokens) * 2) / Decimal(1_000_000)
    assert rows(database, tenant.workspace_id)[0]["cost_usd"] == expected


def test_a_failed_request_is_recorded_with_its_attempts(app, chained, servers, database):
    servers[0].enqueue_failure("auth")
    with pytest.raises(BadGateway):
        chat(app, chained, ask(model="fast"))
    (row,) = rows(database, chained.workspace_id)
    assert row["status"] == "error" and row["attempts"][0]["error"] == "auth"
    assert row["cost_usd"] == 0


def test_the_usage_api_totals_equal_the_ledger_rows(app, chained, servers, database):
    for model in ("fast", "smart", "openai/my-finetune-v3", "fast"):
        chat(app, chained, ask(model=model))
    chat(app, chained, ask(model="fast"), purpose="search")
    response = chained.call("GET", "/api/v1/usage?group_by=provider,purpose")
    assert response.status_code == 200, response.json
    groups = response.json["groups"]
    ledger = rows(database, chained.workspace_id)
    assert sum(g["requests"] for g in groups) == len(ledger) == 5
    assert sum(Decimal(g["cost_usd"]) for g in groups) == sum(
        r["cost_usd"] for r in ledger if r["cost_usd"] is not None)
    assert sum(g["input_tokens"] for g in groups) == sum(r["input_tokens"] for r in ledger)
    assert sum(g["unpriced_requests"] for g in groups) == 1
    assert {(g["provider"], g["purpose"]) for g in groups} == {
        ("openai", "builder"), ("anthropic", "builder"), ("openai", "search")}


def test_the_usage_api_refuses_an_unknown_grouping_and_sees_only_its_workspace(
        app, chained, other_tenant):
    chat(app, chained, ask(model="fast"))
    assert chained.call("GET", "/api/v1/usage?group_by=workspace").status_code == 422
    assert other_tenant.call("GET", "/api/v1/usage").json["groups"][0]["requests"] == 0
    window = chained.call("GET", "/api/v1/usage?from=2000-01-01T00:00:00Z"
                                 "&to=2000-01-02T00:00:00Z&group_by=day")
    assert window.status_code == 200 and window.json["groups"] == []


def test_metrics_count_requests_per_provider_and_model_without_workspace_labels(
        app, chained):
    chat(app, chained, ask(model="fast"))
    families = {m.name: m for m in REGISTRY.collect()}
    samples = families["llm_requests"].samples
    assert any(s.labels == {"provider": "openai", "model": "gpt-4o-mini", "status": "ok"}
               for s in samples)
    for name in ("llm_requests", "llm_fallbacks", "llm_tokens", "llm_cost_usd",
                 "llm_request_duration_seconds", "llm_cache_lookups"):
        for sample in families[name].samples:
            assert not {"workspace", "workspace_id", "user", "user_id"} & set(sample.labels)


def test_a_usage_window_that_ends_before_it_starts_is_refused(chained):
    for query in ("from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z",
                  "from=2024-02-01T00:00:00&to=2024-01-01T00:00:00Z",  # naive: UTC
                  "from=2024-02-01&to=2024-01-31"):
        for version in ("v1", "v2"):
            response = chained.call("GET", f"/api/{version}/usage?{query}")
            assert response.status_code == 422, (version, query, response.json)
            assert "from" in response.get_data(as_text=True)
    same = chained.call("GET", "/api/v1/usage?from=2024-01-01T00:00:00Z&to=2024-01-01T00:00:00Z")
    assert same.status_code == 200 and same.json["groups"][0]["requests"] == 0


def test_what_a_hostile_upstream_reports_is_recorded_within_the_ledgers_bounds(
        app, tenant, servers, database):
    # A workspace's base_url may name its own server: the model it claims and the tokens it
    # counts are not trusted. The call was paid for: it must be answered and recorded, not a
    # 500 after the fact with its reservation left standing.
    configure(tenant, servers)
    claimed = "gpt\x00" + "x" * 400
    servers[0].enqueue(json={
        "id": "c", "object": "chat.completion", "created": 1, "model": claimed,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2**40, "completion_tokens": 2**63,
                  "prompt_tokens_details": {"cached_tokens": 2**40}}})

    result = chat(app, tenant, ask(model="openai/gpt-4o-mini"))

    assert result.text == "hi"
    (row,) = rows(database, tenant.workspace_id)
    assert row["status"] == "ok" and row["model"] == ("gpt" + "x" * 400)[:200]
    assert row["input_tokens"] == row["cached_input_tokens"] == row["output_tokens"] == 2**31 - 1


def test_a_cost_beyond_what_money_columns_hold_is_recorded_at_their_maximum(
        app, tenant, servers, database):
    # The largest price a workspace may set (10 digits per million tokens) times a large
    # answer exceeds NUMERIC(20,10): the ledger and a soft-limit budget keep the maximum
    # instead of failing the paid call's records.
    top = "9999999999.9999999999"
    configure(tenant, servers, llm={"prices": {"openai/gpt-4o-mini": {
        "input": "9999999999", "output": "9999999999"}}})
    response = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "month", "soft_limit_usd": "1"}]})
    assert response.status_code == 200, response.json
    for _ in range(2):
        servers[0].enqueue(json={
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2_000_000}})
        assert chat(app, tenant, ask(model="openai/gpt-4o-mini")).text == "hi"

    assert [row["cost_usd"] for row in rows(database, tenant.workspace_id)] == [
        Decimal(top)] * 2
    with psycopg.connect(database.superuser_dsn) as connection:
        spent, reserved = connection.execute(
            "SELECT spent_usd, reserved_usd FROM llm_budgets WHERE workspace_id = %s",
            (tenant.workspace_id,)).fetchone()
    assert (spent, reserved) == (Decimal(top), 0)


def _report_far_east(app, tenant, database, start, end, group_by):
    """The report of one request at 12:00 UTC on 1 January, read by a database session whose
    timezone is UTC+14 (Kiritimati: already 2 January there)."""
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute(
            "INSERT INTO llm_usage (workspace_id, id, kind, purpose, status, created_at) "
            "VALUES (%s, gen_random_uuid(), 'chat', 'gateway', 'ok', "
            "'2026-01-01 12:00:00+00')", (tenant.workspace_id,))
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            db.session.execute(text("SET LOCAL timezone = 'Pacific/Kiritimati'"))
            return ledger.report(db.session, start, end, group_by)
        finally:
            db.session.rollback()
            db.session.remove()
            tenancy.unbind()


def test_usage_by_day_counts_utc_days_whatever_the_database_sessions_timezone(
        app, tenant, database):
    # A managed database whose default timezone is not UTC must not move a request to
    # another day.
    report = _report_far_east(app, tenant, database, None, None, ["day"])
    assert [(g["day"], g["requests"]) for g in report["groups"]] == [("2026-01-01", 1)]


def test_usage_bounds_without_a_timezone_are_utc_whatever_the_database_sessions_timezone(
        app, tenant, database):
    # The report reads a bound that names no timezone as UTC (it compares from and to so);
    # the database must not read it in its session's timezone instead.
    report = _report_far_east(app, tenant, database, datetime(2026, 1, 1, 11),
                              datetime(2026, 1, 1, 13), [])
    assert [g["requests"] for g in report["groups"]] == [1]


def test_a_grouping_named_many_times_is_one_grouping_in_every_api(chained):
    # GraphQL's variables bypass its document's token limit and REST's 100 characters: a
    # list of 2000 "model" must not become 2000 columns (the database refuses past 1664).
    assert chained.call("POST", "/api/v1/llm/chat", json={
        "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    answer = chained.call("POST", "/api/graphql", json={
        "query": "query($g: [String!]) { usage(groupBy: $g) { groupBy groups { model "
                 "requests } } }", "variables": {"g": ["model"] * 2000}})
    assert "errors" not in answer.json, answer.json
    usage = answer.json["data"]["usage"]
    assert usage["groupBy"] == ["model"] and [g["requests"] for g in usage["groups"]] == [1]
    shown = chained.call("GET", "/api/v1/usage?group_by=model,day,model").json
    assert shown["group_by"] == ["model", "day"] and len(shown["groups"]) == 1


def test_model_names_a_tenant_makes_up_cannot_grow_the_metrics_without_bound(monkeypatch):
    # The model label is the one asked for (or the one an upstream claims): a tenant sending
    # "openai/<random>" per request grew a series per name in every process, for all.
    monkeypatch.setattr(ledger, "_labelled", set(), raising=False)  # this test's own count
    workspace = uuid.uuid4()

    def labels() -> set[str]:
        return {sample.labels["model"] for metric in REGISTRY.collect()
                if metric.name == "llm_requests" for sample in metric.samples}

    before = labels()
    for index in range(3000):
        ledger.counted(ledger.entry(
            workspace, kind="chat", purpose="gateway", caller=Caller(), provider="openai",
            model=f"made-up-{index}", requested_model=None, usage=Usage(output_tokens=1),
            cost=None, status="error", latency_ms=1, attempts=[]))
    assert len(labels() - before) <= 1001  # the bound, and "other"


def test_a_streamed_answer_from_a_server_that_reports_no_usage_is_counted_not_free(
        app, tenant, servers, monkeypatch):
    # An OpenAI-compatible server that ignores stream_options.include_usage (older vLLM,
    # llama.cpp) ends its stream without a usage chunk: the answer was recorded at 0 tokens
    # and cost 0, so no budget ever bound its streams.
    from codex32.services import gateway
    from codex32.testing import fake_openai

    real = fake_openai.chat_chunks

    def chunks_without_usage(ident, model, created, text, finish_reason, usage, include_usage):
        return real(ident, model, created, text, finish_reason, usage, False)

    monkeypatch.setattr(fake_openai, "chat_chunks", chunks_without_usage)
    configure(tenant, servers)
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            opened = gateway.stream(tenant.workspace_id, ask(model="openai/gpt-4o-mini"),
                                    purpose="builder", cache=False)
            text = "".join(chunk.text for chunk in opened)
        finally:
            db.session.remove()
            tenancy.unbind()
    assert text and opened.result is not None
    assert opened.result.usage.input_tokens > 0 and opened.result.usage.output_tokens > 0
    assert opened.result.cost_usd is not None and opened.result.cost_usd > 0


def test_an_answer_from_a_server_that_reports_no_usage_is_counted_not_free(
        app, tenant, servers, monkeypatch):
    without_usage(monkeypatch, "chat_completion")
    configure(tenant, servers)
    result = chat(app, tenant, ask(model="openai/gpt-4o-mini"), cache=False)
    assert result.text
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd is not None and result.cost_usd > 0
