"""A chat's ledger row is written as ``pending``, with what it reserved, before the provider
is called; the HTTP chat's answer is sent before its record, which replaces that row; the
maintenance loop settles a row whose process ended first at its reserved maximum, in each
workspace under its own binding, and a record that comes after that settles nothing twice."""

from __future__ import annotations

import logging
from decimal import Decimal

import psycopg
import pytest

from codex32.errors import BadGateway
from codex32.execution import sweeps
from codex32.runtime import KEY, background
from codex32.services.gateway import budgets
from tests.gateway.conftest import ask, chat, configure, ledger_rows

BODY = {"messages": [{"role": "user", "content": "hello gateway"}], "model": "fast"}
BUDGET = {"scope": "workspace", "period": "day", "hard_limit_usd": "10"}


def ledger(database, workspace_id: str) -> list[dict]:
    return ledger_rows(database, workspace_id, "id, status, cost_usd, reserved_usd, "
                       "reserved_budgets, input_tokens, output_tokens")


def budget(database, workspace_id: str) -> tuple[Decimal, Decimal]:
    background.wait_idle()  # an HTTP chat's record, written after its response
    with psycopg.connect(database.superuser_dsn) as connection:
        return connection.execute(
            "SELECT spent_usd, reserved_usd FROM llm_budgets WHERE workspace_id = %s",
            (workspace_id,)).fetchone()


@pytest.fixture()
def budgeted(chained):
    response = chained.call("PUT", "/api/v1/budgets", json={"budgets": [BUDGET]})
    assert response.status_code == 200, response.json
    return chained


def test_the_answer_is_sent_before_its_record_which_replaces_the_pending_row(
        budgeted, database):
    response = budgeted.call("POST", "/api/v1/llm/chat", json=BODY, buffered=False)
    assert response.status_code == 200
    answer = response.json
    # Sent, not yet closed by the server: the row is the reservation's, pending.
    [row] = ledger(database, budgeted.workspace_id)
    assert str(row["id"]) == answer["usage_id"] and row["status"] == "pending"
    assert row["reserved_usd"] > Decimal(answer["cost_usd"]) > 0
    spent, reserved = budget(database, budgeted.workspace_id)
    assert (spent, reserved) == (0, row["reserved_usd"])
    assert [budget_id for budget_id, _ in row["reserved_budgets"]] == [
        budgeted.call("GET", "/api/v1/budgets").json[0]["id"]]
    report = budgeted.call("GET", "/api/v1/usage").json["groups"][0]
    assert [report[name] for name in ("requests", "pending_requests", "failed_requests",
                                      "unsettled_requests", "unpriced_requests")] == [
        1, 1, 0, 0, 0]
    response.close()  # the server closes it once sent: the record is written
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "ok" and row["cost_usd"] == Decimal(answer["cost_usd"])
    assert row["output_tokens"] == answer["usage"]["output_tokens"]
    assert budget(database, budgeted.workspace_id) == (Decimal(answer["cost_usd"]), 0)


COUNTS = ("requests", "failed_requests", "pending_requests", "unsettled_requests",
          "unpriced_requests")
GRAPHQL_USAGE = ("{ usage { groups { requests failedRequests pendingRequests "
                 "unsettledRequests unpricedRequests costUsd inputTokens } } }")


def reports(tenant) -> list[dict]:
    """The workspace's ungrouped usage report from REST v1, v2 and GraphQL, in v1's names."""
    found = [tenant.call("GET", f"/api/{version}/usage").json["groups"][0]
             for version in ("v1", "v2")]
    response = tenant.client.post("/api/graphql", json={"query": GRAPHQL_USAGE},
                                  headers=tenant.headers)
    assert response.status_code == 200 and "errors" not in response.json, response.json
    [group] = response.json["data"]["usage"]["groups"]
    found.append({"".join(f"_{c.lower()}" if c.isupper() else c for c in name): value
                  for name, value in group.items()})
    return found


def dropped(app, tenant, request=None) -> list:
    """A chat whose process ends after the answer and before its record: the record is
    handed over and never run. Returns the records handed over."""
    kept: list = []
    result = chat(app, tenant, request, defer=kept.append, purpose="gateway")
    assert result.usage_id is not None and len(kept) == 1
    return kept


def aged(database, *workspace_ids: str) -> None:
    """These workspaces' pending rows made stale (two hours old): only theirs, since the
    database is shared with tests running at the same time, whose rows must stay pending."""
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute("UPDATE llm_usage SET created_at = created_at - interval '2 hours' "
                           "WHERE workspace_id = ANY(%s) AND status = 'pending'",
                           (list(workspace_ids),))


def test_the_sweep_settles_rows_left_pending_at_their_maximum_in_each_workspace(
        app, budgeted, servers, database, other_tenant):
    other = other_tenant
    configure(other, servers)
    assert other.call("PUT", "/api/v1/budgets", json={"budgets": [BUDGET]}).status_code == 200
    for tenant in (budgeted, other):
        dropped(app, tenant)
    runtime = app.extensions[KEY]
    sweeps.stale_llm_calls(runtime.sessions)  # not stale yet
    assert [row["status"] for row in ledger(database, budgeted.workspace_id)] == ["pending"]
    aged(database, budgeted.workspace_id, other.workspace_id)
    sweeps.stale_llm_calls(runtime.sessions)
    for tenant in (budgeted, other):
        [row] = ledger(database, tenant.workspace_id)
        assert row["status"] == "unsettled" and row["cost_usd"] == row["reserved_usd"] > 0
        assert budget(database, tenant.workspace_id) == (row["reserved_usd"], 0)
    sweeps.stale_llm_calls(runtime.sessions)  # settled once
    for tenant in (budgeted, other):
        [row] = ledger(database, tenant.workspace_id)
        assert budget(database, tenant.workspace_id) == (row["reserved_usd"], 0)
        # Reported apart, in every API: never recorded, charged its maximum, not failed.
        for report in reports(tenant):
            assert [report[name] for name in COUNTS] == [1, 0, 0, 1, 0], report
            assert Decimal(report["cost_usd"]) == row["reserved_usd"]


def test_the_usage_report_counts_swept_rows_as_unsettled_and_its_totals_equal_the_ledger(
        app, chained, servers, database):
    chat(app, chained, ask(model="fast"))  # ok
    servers[0].enqueue_failure("auth")
    with pytest.raises(BadGateway):
        chat(app, chained, ask(model="fast"))  # error
    dropped(app, chained)  # unsettled at its reserved maximum
    # No known price: nothing reserved (refused under a hard budget; this workspace has none).
    dropped(app, chained, ask(model="openai/my-finetune-v3"))  # unsettled, cost unknown
    aged(database, chained.workspace_id)
    sweeps.stale_llm_calls(app.extensions[KEY].sessions)
    dropped(app, chained)  # still pending
    rows = ledger(database, chained.workspace_id)
    assert sorted((row["status"], row["cost_usd"] is None) for row in rows) == [
        ("error", False), ("ok", False), ("pending", True), ("unsettled", False),
        ("unsettled", True)], rows
    assert all(row["cost_usd"] == row["reserved_usd"] for row in rows
               if row["status"] == "unsettled")
    costs = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    for report in reports(chained):
        # The unsettled row without a price has an unknown cost: unpriced, as is none else
        # (the failed one cost zero; the pending one's cost is not known yet).
        assert [report[name] for name in COUNTS] == [5, 1, 1, 2, 1], report
        assert Decimal(report["cost_usd"]) == sum(costs)
        assert report["input_tokens"] == sum(row["input_tokens"] for row in rows)


def test_a_record_that_comes_after_the_sweep_changes_nothing(app, budgeted, database):
    [late] = dropped(app, budgeted)
    aged(database, budgeted.workspace_id)
    sweeps.stale_llm_calls(app.extensions[KEY].sessions)
    assert [row["status"] for row in ledger(database, budgeted.workspace_id)] == ["unsettled"]
    swept = budget(database, budgeted.workspace_id)
    counted = _requests_counted()
    late()
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "unsettled"
    assert budget(database, budgeted.workspace_id) == swept  # not settled twice
    assert _requests_counted() == counted  # the sweep counted it: not counted twice


def _requests_counted() -> float:
    """Every request the gateway counted in this process (llm_requests_total)."""
    from prometheus_client import REGISTRY

    return sum(sample.value for metric in REGISTRY.collect()
               if metric.name == "llm_requests" for sample in metric.samples
               if sample.name.endswith("_total"))


def test_a_record_that_cannot_be_written_leaves_the_row_pending_for_the_sweep(
        app, budgeted, database, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="codex32.services.gateway.recording")
    [record] = dropped(app, budgeted)
    monkeypatch.setattr(budgets, "settlement_apart", lambda *args: [("SELECT 1/0", {})])
    record()  # logged, not raised: the response was sent already
    assert "stays pending" in caplog.text
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "pending"
    assert budget(database, budgeted.workspace_id)[1] == row["reserved_usd"] > 0


def test_a_settlement_that_fails_after_its_row_committed_is_settled_by_the_sweep(
        app, budgeted, database, monkeypatch, caplog):
    """The ledger row commits before the settlement (budgets.settlement_apart): a settlement
    that failed then (its connection lost, a statement refused) left the reservation
    standing until the budget's period ended, since the sweep settles pending rows only."""
    caplog.set_level(logging.ERROR, logger="codex32.services.gateway.recording")
    [record] = dropped(app, budgeted)
    monkeypatch.setattr(budgets, "settlement_apart", lambda *args, **kwargs: [
        ("COMMIT AND CHAIN", {}), ("SELECT 1/0", {})])
    record()  # logged, not raised
    monkeypatch.undo()
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "ok" and 0 < row["cost_usd"] < row["reserved_usd"]
    assert budget(database, budgeted.workspace_id) == (0, row["reserved_usd"])
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute("UPDATE llm_usage SET created_at = created_at - interval '2 hours' "
                           "WHERE workspace_id = %s", (budgeted.workspace_id,))
    for _ in range(2):  # settled once
        sweeps.stale_llm_calls(app.extensions[KEY].sessions)
        assert budget(database, budgeted.workspace_id) == (row["cost_usd"], 0)
    [after] = ledger(database, budgeted.workspace_id)
    assert after["status"] == "ok" and after["cost_usd"] == row["cost_usd"]


def test_a_response_closed_twice_records_its_answer_once(budgeted, database):
    response = budgeted.call("POST", "/api/v1/llm/chat", json=BODY, buffered=False)
    cost = Decimal(response.json["cost_usd"])
    response.close()
    response.close()
    assert budget(database, budgeted.workspace_id) == (cost, 0)  # not settled twice


# -- embeddings: the same pending row, record and sweep --------------------------------------


@pytest.fixture()
def embedding_budgeted(tenant, servers):
    """The fake OpenAI then the hashing embedder as the default embedding route, and a
    workspace budget."""
    from tests.gateway.test_embeddings import configure_embedders

    configure_embedders(tenant, servers)
    response = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [BUDGET]})
    assert response.status_code == 200, response.json
    return tenant


def embedding_held(monkeypatch):
    """Make the router's embedding calls wait, once they answered, until the returned event
    is set; the second event is set when one is waiting (the embedder's call in flight)."""
    import threading

    from codex32.services.gateway.router import Router

    release, waiting = threading.Event(), threading.Event()
    real = Router.embed

    def held(self, deployments, texts):
        answer = real(self, deployments, texts)
        waiting.set()
        assert release.wait(30)
        return answer

    monkeypatch.setattr(Router, "embed", held)
    return release, waiting


def test_an_embeddings_row_is_pending_during_the_call_and_ok_after_with_its_budget_settled(
        app, embedding_budgeted, database, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from tests.gateway.test_embeddings import embed

    release, waiting = embedding_held(monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(embed, app, embedding_budgeted, ["alpha", "beta"], cache=False)
        assert waiting.wait(30)
        [row] = ledger(database, embedding_budgeted.workspace_id)
        assert row["status"] == "pending" and row["reserved_usd"] > 0
        assert len(row["reserved_budgets"]) == 1
        assert budget(database, embedding_budgeted.workspace_id) == (0, row["reserved_usd"])
        release.set()
        result = call.result(30)
    [row] = ledger(database, embedding_budgeted.workspace_id)
    assert (row["id"], row["status"]) == (result.usage_id, "ok")
    assert row["cost_usd"] == result.cost_usd > 0
    assert budget(database, embedding_budgeted.workspace_id) == (result.cost_usd, 0)


def test_an_embedding_no_embedder_answered_replaces_its_pending_row_and_gives_back_its_budget(
        app, embedding_budgeted, servers, database):
    from codex32.errors import BadGateway
    from tests.gateway.test_embeddings import embed

    servers[0].enqueue_failure("auth")  # stops the route: the provider refused
    with pytest.raises(BadGateway):
        embed(app, embedding_budgeted, ["alpha"], cache=False)
    [row] = ledger(database, embedding_budgeted.workspace_id)
    assert (row["status"], row["cost_usd"]) == ("error", 0)
    assert budget(database, embedding_budgeted.workspace_id) == (0, 0)


def test_an_embedding_whose_process_ended_mid_call_is_settled_by_the_sweep(
        app, embedding_budgeted, database, monkeypatch):
    """While the call is in flight the database holds what a killed process leaves: the
    sweep settles it at its maximum, and the record that comes after changes nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.gateway.test_embeddings import embed

    workspace = embedding_budgeted.workspace_id
    release, waiting = embedding_held(monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(embed, app, embedding_budgeted, ["alpha"], cache=False)
        try:
            assert waiting.wait(30)
            aged(database, workspace)
            sweeps.stale_llm_calls(app.extensions[KEY].sessions)
            [row] = ledger(database, workspace)
            assert row["status"] == "unsettled" and row["cost_usd"] == row["reserved_usd"] > 0
            assert budget(database, workspace) == (row["reserved_usd"], 0)
        finally:
            release.set()
        call.result(30)
    [late] = ledger(database, workspace)
    assert late["status"] == "unsettled"
    assert budget(database, workspace) == (row["reserved_usd"], 0)  # not settled twice


# -- the background thread is shared by every workspace of the process -----------------------


def test_a_workspaces_slow_notifier_does_not_hold_back_the_records_of_others(
        budgeted, servers, database, other_tenant, monkeypatch):
    """An HTTP chat's record runs on the process's one background thread, and its soft-limit
    notice was sent there too, waiting for the workspace's notifiers (notices.TIMEOUT each):
    a webhook that never answers held back the record of every other workspace's call."""
    import socket
    import time

    from codex32.services.gateway import notices

    monkeypatch.setattr(notices, "TIMEOUT", 3.0)  # still past the 2 s the other may wait

    configure(other_tenant, servers)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        response = budgeted.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/",
                       "max_attempts": 1, "timeout_seconds": 10},
            "secrets": {"signing_secret": "s" * 32}})
        assert response.status_code in (200, 201), response.json
        assert budgeted.call("PUT", "/api/v1/budgets", json={"budgets": [
            {**BUDGET, "soft_limit_usd": "0.0000000001"}]}).status_code == 200
        crossing = budgeted.call("POST", "/api/v1/llm/chat", json=BODY)
        assert crossing.status_code == 200, crossing.json
        answered = other_tenant.call("POST", "/api/v1/llm/chat", json={**BODY, "model": None})
        assert answered.status_code == 200, answered.json
        waited, status = time.monotonic(), "pending"
        while status == "pending" and time.monotonic() - waited < 10:
            time.sleep(0.05)
            with psycopg.connect(database.superuser_dsn) as connection:
                status = connection.execute("SELECT status FROM llm_usage WHERE id = %s",
                                            (answered.json["usage_id"],)).fetchone()[0]
        assert status == "ok"
        assert time.monotonic() - waited < 2, (
            f"the other workspace's record waited {time.monotonic() - waited:.1f}s")
        assert background.wait_idle(15)
