"""A call whose budget period ends while it runs: reserved in the period that ended, its real
cost is charged to the period current when it is settled (by its record or by the sweep),
its reservation counts against that period until then, and nothing is settled twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from codex32.db import db, tenancy
from codex32.errors import RateLimited
from codex32.execution import sweeps
from codex32.runtime import KEY
from codex32.services import gateway
from codex32.services.gateway import budgets
from tests.gateway.conftest import ask, chat
from tests.gateway.test_pending_records import aged, budget, dropped, ledger


def put_budget(tenant, hard_limit: str = "10") -> None:
    response = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": hard_limit}]})
    assert response.status_code == 200, response.json


def _to_yesterday(database, workspace_id: str) -> None:
    """The workspace's day budgets and pending rows as if reserved in yesterday's period."""
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute(
            "UPDATE llm_budgets SET period_start = period_start - interval '1 day' "
            "WHERE workspace_id = %s AND period = 'day'", (workspace_id,))
        connection.execute(
            "UPDATE llm_usage SET reserved_budgets = (SELECT COALESCE(jsonb_agg("
            "jsonb_build_array(e->0, to_jsonb(CAST(e->>1 AS timestamptz) - interval '1 day'))),"
            " '[]') FROM jsonb_array_elements(reserved_budgets) AS e) "
            "WHERE workspace_id = %s AND status = 'pending'", (workspace_id,))


def reserved_yesterday(monkeypatch, database, workspace_id: str, meanwhile=lambda: None
                       ) -> None:
    """The next reservation is moved to yesterday's period (the call began before midnight
    and is answered after it); ``meanwhile`` runs while it is in flight."""
    real = budgets.reserve_unless_cached

    def shifted(*args, **kwargs):
        monkeypatch.setattr(budgets, "reserve_unless_cached", real)  # once
        reservation, found = real(*args, **kwargs)
        _to_yesterday(database, workspace_id)
        reservation.budgets = {budget_id: start - timedelta(days=1)
                               for budget_id, start in reservation.budgets.items()}
        meanwhile()
        return reservation, found

    monkeypatch.setattr(budgets, "reserve_unless_cached", shifted)


def another_call(tenant) -> gateway.GatewayResult:
    """A chat made while the first is in flight (its session is its own)."""
    return gateway.chat(tenant.workspace_id, ask(model="fast"), purpose="builder")


def shown(tenant) -> dict:
    return tenant.call("GET", "/api/v1/budgets").json[0]


def today() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def test_a_call_reserved_before_its_period_ended_is_charged_to_the_current_one(
        app, chained, database, monkeypatch):
    # Its settlement matched the budget's row only in the period it reserved in: the spend
    # went to a period already over (shown as 0, reset by the next call) or, the row rolled
    # over meanwhile, nowhere. Either way the call cost the budget nothing.
    put_budget(chained)
    reserved_yesterday(monkeypatch, database, chained.workspace_id)
    result = chat(app, chained, ask(model="fast"))
    found = shown(chained)
    assert result.cost_usd and Decimal(found["spent_usd"]) == result.cost_usd, found
    assert Decimal(found["reserved_usd"]) == 0, found
    assert datetime.fromisoformat(found["period_start"]) == today(), found


def test_a_call_whose_budget_another_call_rolled_over_is_charged_too(
        app, chained, database, monkeypatch):
    put_budget(chained)
    others: list[gateway.GatewayResult] = []
    reserved_yesterday(monkeypatch, database, chained.workspace_id,
                       meanwhile=lambda: others.append(another_call(chained)))
    result = chat(app, chained, ask(model="fast"))
    [other] = others
    assert result.cost_usd and other.cost_usd
    assert budget(database, chained.workspace_id) == (result.cost_usd + other.cost_usd, 0)


def test_a_reservation_made_before_the_period_ended_still_bounds_the_new_one(
        app, chained, database, monkeypatch):
    """Its cost will be charged to the new period: until it is, the new period's calls see it
    reserved (else each call in flight at midnight overshoots the new period's hard limit)."""
    put_budget(chained, hard_limit="0.0000001")  # below one call's maximum
    refusals: list[Exception] = []

    def meanwhile() -> None:
        with pytest.raises(RateLimited, match="budget workspace/day is spent") as caught:
            another_call(chained)
        refusals.append(caught.value)

    reserved_yesterday(monkeypatch, database, chained.workspace_id, meanwhile=meanwhile)
    result = chat(app, chained, ask(model="fast"))
    assert len(refusals) == 1
    assert budget(database, chained.workspace_id) == (result.cost_usd, 0)


def test_the_sweep_charges_a_row_reserved_before_the_period_ended_to_the_current_one(
        app, chained, database, monkeypatch):
    put_budget(chained)
    reserved_yesterday(monkeypatch, database, chained.workspace_id)
    dropped(app, chained)  # its process ended before its record
    aged(database, chained.workspace_id)
    sessions = app.extensions[KEY].sessions
    sweeps.stale_llm_calls(sessions)
    sweeps.stale_llm_calls(sessions)  # settled once
    [row] = ledger(database, chained.workspace_id)
    assert row["status"] == "unsettled" and row["reserved_usd"] > 0, row
    assert budget(database, chained.workspace_id) == (row["reserved_usd"], 0)
    assert Decimal(shown(chained)["spent_usd"]) == row["reserved_usd"]


def test_a_record_after_the_sweep_charged_the_row_across_the_boundary_changes_nothing(
        app, chained, database, monkeypatch):
    put_budget(chained)
    reserved_yesterday(monkeypatch, database, chained.workspace_id)
    kept = dropped(app, chained)
    aged(database, chained.workspace_id)
    sweeps.stale_llm_calls(app.extensions[KEY].sessions)
    [row] = ledger(database, chained.workspace_id)
    with app.app_context():
        tenancy.bind(db.session, chained.workspace_id)
        try:
            kept[0]()  # the record comes after all
        finally:
            db.session.remove()
            tenancy.unbind()
    assert budget(database, chained.workspace_id) == (row["reserved_usd"], 0)
