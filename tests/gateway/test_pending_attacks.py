"""Attacks on the pending ledger rows: each settlement of a reservation happens once, whatever
fails and in whatever order the record, a failure's release and the sweep come."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy.exc import DataError

from codex32.db import db, tenancy
from codex32.execution import sweeps
from codex32.runtime import KEY, activated, background
from codex32.services import gateway
from codex32.services.gateway import budgets, records
from codex32.testing.receivers import serve
from tests.gateway.conftest import ask, chat, configure
from tests.gateway.test_pending_records import BODY, BUDGET, aged, budget, dropped, ledger


@pytest.fixture()
def budgeted(chained):
    response = chained.call("PUT", "/api/v1/budgets", json={"budgets": [BUDGET]})
    assert response.status_code == 200, response.json
    return chained


def read_stream(app, tenant) -> gateway.GatewayStream:
    """A stream opened and read to its end as a service does."""
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            opened = gateway.stream(tenant.workspace_id, ask(model="fast"), purpose="builder")
        finally:
            db.session.remove()
            tenancy.unbind()
        for _ in opened:
            pass
    return opened


def test_a_stream_whose_record_fails_after_settling_does_not_settle_again(
        app, budgeted, database, monkeypatch):
    # Another request is pending: its reservation must stand whatever this stream does.
    dropped(app, budgeted)
    [pending] = ledger(database, budgeted.workspace_id)
    standing = pending["reserved_usd"]

    real, calls = budgets.crossed, []

    def lost(*args, **kwargs):  # the connection goes after the settlement was committed
        calls.append(args)
        if len(calls) == 1:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(budgets, "crossed", lost)
    with pytest.raises(psycopg.OperationalError):
        read_stream(app, budgeted)
    rows = {row["status"]: row for row in ledger(database, budgeted.workspace_id)}
    assert set(rows) == {"pending", "ok"}
    spent, reserved = budget(database, budgeted.workspace_id)
    assert spent == rows["ok"]["cost_usd"]
    assert reserved == standing  # the release after the record settled nothing twice


def test_a_stream_whose_settlement_fails_after_its_row_keeps_its_reservation(
        app, budgeted, database, monkeypatch):
    """The row (committed) says the call cost something: a release must not hand the
    reservation back for nothing (spent would miss the cost); it stays reserved."""
    real = budgets.settlement_apart

    def failing(*args, **kwargs):
        statements = real(*args, **kwargs)
        return [*statements[:1], ("SELECT 1/0", {})]  # the ledger row committed, then fails

    monkeypatch.setattr(budgets, "settlement_apart", failing)
    with pytest.raises(DataError):
        read_stream(app, budgeted)
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "ok" and row["cost_usd"] > 0
    spent, reserved = budget(database, budgeted.workspace_id)
    assert spent + reserved >= row["cost_usd"], (spent, reserved)


def test_a_soft_limit_crossed_by_an_http_chat_is_notified_after_the_answer(
        budgeted, database):
    with serve() as receiver:
        response = budgeted.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": receiver.url, "max_attempts": 1, "timeout_seconds": 2},
            "secrets": {"signing_secret": "s" * 32}})
        assert response.status_code in (200, 201), response.json
        response = budgeted.call("PUT", "/api/v1/budgets", json={"budgets": [
            {**BUDGET, "soft_limit_usd": "0.0000000001"}]})
        assert response.status_code == 200, response.json
        for path, body in (("/api/v1/llm/chat", BODY),
                           ("/api/v1/openai/chat/completions", BODY)):
            assert budgeted.call("POST", path, json=body).status_code == 200
        background.wait_idle()  # the records, written (and notified) after the responses
        bodies = [json.loads(r.body) for r in receiver.requests]
    notices = [b for b in bodies if "budget" in json.dumps(b)]
    assert len(notices) == 1, bodies
    [spent_row] = [budget(database, budgeted.workspace_id)]
    assert spent_row[1] == 0 and spent_row[0] > Decimal(0)


def sweep_now(app, workspace_id: str) -> int:
    """The maintenance loop's sweep of one workspace, every pending row stale (only this
    workspace's: the database is shared with other tests)."""
    runtime = app.extensions[KEY]
    with runtime.sessions() as session, tenancy.bound(session, workspace_id):
        swept, _ = records.sweep(session, datetime.now(UTC) + timedelta(seconds=5))
        session.commit()
    return swept


@pytest.mark.parametrize("round_", range(3))
def test_late_records_racing_the_sweep_settle_each_reservation_once(
        app, budgeted, database, round_):
    late = [record for _ in range(6) for record in dropped(app, budgeted)]
    start = threading.Barrier(len(late) + 1)

    def run(work) -> None:
        start.wait()
        work()

    threads = [threading.Thread(target=run, args=(work,))
               for work in [*late, lambda: sweep_now(app, budgeted.workspace_id)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    rows = ledger(database, budgeted.workspace_id)
    assert {row["status"] for row in rows} <= {"ok", "unsettled"}, rows
    spent, reserved = budget(database, budgeted.workspace_id)
    assert reserved == 0
    assert spent == sum(row["cost_usd"] for row in rows)


def waiting_for_locks(database, count: int) -> bool:
    """Whether ``count`` sessions wait for a lock (within 10 s)."""
    until = time.monotonic() + 10
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        while time.monotonic() < until:
            waiting = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchone()[0]
            if waiting >= count:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.parametrize("settling", ["sweep", "record"])
def test_a_settlement_and_a_reservation_lock_a_workspaces_budgets_in_one_order(
        app, chained, database, settling):
    """Two budgets apply to every request (a day's and a month's): the reservation locks them
    in id order; a settlement (the sweep's, a late record's) locking them in another order
    deadlocked with it (one of them failed). Several rounds, each with new budgets: the
    settlement's order followed the ids' hashes or the rows' places."""
    errors: list[Exception] = []

    def guarded(work) -> None:
        try:
            work()
        except Exception as exc:
            errors.append(exc)

    for round_ in range(6):
        # New budgets (new ids) each round: a budget kept keeps its id.
        assert chained.call("PUT", "/api/v1/budgets", json={"budgets": []}).status_code == 200
        response = chained.call("PUT", "/api/v1/budgets", json={"budgets": [
            {"scope": "workspace", "period": "day", "hard_limit_usd": str(10 + round_)},
            {"scope": "workspace", "period": "month", "hard_limit_usd": str(100 + round_)}]})
        assert response.status_code == 200, response.json
        [late] = dropped(app, chained)
        settle = late if settling == "record" else lambda: sweep_now(app, chained.workspace_id)
        with psycopg.connect(database.superuser_dsn) as holder:
            # The first budget is held: the reservation waits for it holding nothing, the
            # settlement waits with whatever it locked before it.
            holder.execute("SELECT FROM llm_budgets WHERE workspace_id = %s ORDER BY id "
                           "LIMIT 1 FOR UPDATE", (chained.workspace_id,))
            threads = [threading.Thread(target=guarded, args=(lambda: chat(app, chained),)),
                       threading.Thread(target=guarded, args=(settle,))]
            for waiting, thread in enumerate(threads, start=1):
                thread.start()
                assert waiting_for_locks(database, waiting)
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert {row["status"] for row in ledger(database, chained.workspace_id)} <= {
            "ok", "unsettled"}
        with psycopg.connect(database.superuser_dsn) as connection:
            assert connection.execute(
                "SELECT sum(reserved_usd) FROM llm_budgets WHERE workspace_id = %s",
                (chained.workspace_id,)).fetchone()[0] == 0


def test_a_stream_whose_record_cannot_be_written_stays_pending_for_the_sweep(
        app, budgeted, database, monkeypatch):
    """The provider answered: a record the database refused leaves the row pending with its
    reservation (the sweep charges the maximum), as a chat's does; it was released instead,
    as an error costing nothing."""
    monkeypatch.setattr(budgets, "settlement_apart", lambda *args: [("SELECT 1/0", {})])
    with pytest.raises(DataError):
        read_stream(app, budgeted)
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "pending"
    assert budget(database, budgeted.workspace_id) == (0, row["reserved_usd"])
    monkeypatch.undo()
    assert sweep_now(app, budgeted.workspace_id) == 1
    [row] = ledger(database, budgeted.workspace_id)
    assert row["status"] == "unsettled"
    assert budget(database, budgeted.workspace_id) == (row["reserved_usd"], 0)


def test_a_workspace_whose_sweep_fails_does_not_stop_the_others(
        app, budgeted, servers, other_tenant, database, caplog):
    configure(other_tenant, servers)
    assert other_tenant.call("PUT", "/api/v1/budgets",
                             json={"budgets": [BUDGET]}).status_code == 200
    for tenant in (budgeted, other_tenant):
        dropped(app, tenant)
    with psycopg.connect(database.superuser_dsn) as connection:
        # Both rows stale (an hour and more), one of them unreadable to the sweep.
        connection.execute("UPDATE llm_usage SET created_at = now() - interval '2 hours' "
                           "WHERE workspace_id IN (%s, %s)",
                           (budgeted.workspace_id, other_tenant.workspace_id))
        connection.execute("UPDATE llm_usage SET reserved_budgets = '[[\"x\", \"y\"]]' "
                           "WHERE workspace_id = %s", (budgeted.workspace_id,))
    try:
        sweeps.stale_llm_calls(app.extensions[KEY].sessions)
        [row] = ledger(database, other_tenant.workspace_id)
        assert row["status"] == "unsettled"
        assert [row["status"] for row in ledger(database, budgeted.workspace_id)] == [
            "pending"]
        assert "could not settle" in caplog.text
    finally:  # the database is shared: no other test's sweep meets this row
        with psycopg.connect(database.superuser_dsn) as connection:
            connection.execute("DELETE FROM llm_usage WHERE workspace_id = %s",
                               (budgeted.workspace_id,))


@pytest.mark.parametrize("settling", ["sweep", "record"])
def test_a_reservation_of_a_period_that_ended_is_charged_to_the_next_and_released_once(
        app, budgeted, database, settling):
    """Reserved yesterday (UTC), settled today after today's first request began the new
    period: the call is charged to today's spend (before, it cost the budget nothing), and
    its reservation, which the new period carried, is released: today's own reservations
    stay whole."""
    [late] = dropped(app, budgeted)
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute(
            "UPDATE llm_budgets SET period_start = period_start - interval '1 day' "
            "WHERE workspace_id = %s", (budgeted.workspace_id,))
        connection.execute(
            "UPDATE llm_usage SET reserved_budgets = jsonb_build_array(jsonb_build_array("
            "reserved_budgets->0->>0, CAST(reserved_budgets->0->>1 AS timestamptz) "
            "- interval '1 day')) WHERE workspace_id = %s", (budgeted.workspace_id,))
    reservation = late.args[1].reservation  # the record's (functools.partial of _record_later)
    reservation.budgets = {budget_id: start - timedelta(days=1)
                           for budget_id, start in reservation.budgets.items()}
    today = chat(app, budgeted)  # begins today's period: its own reservation, settled
    dropped(app, budgeted)  # and one pending today
    pending = [row for row in ledger(database, budgeted.workspace_id)
               if row["status"] == "pending"][-1]
    if settling == "record":
        late()
        charged = late.args[3]  # the answer's cost
    else:
        with psycopg.connect(database.superuser_dsn) as connection:  # only the old one stale
            connection.execute("UPDATE llm_usage SET created_at = created_at - interval "
                               "'2 hours' WHERE id = %s", (ledger(
                                   database, budgeted.workspace_id)[0]["id"],))
        with app.extensions[KEY].sessions() as session, tenancy.bound(
                session, budgeted.workspace_id):
            records.sweep(session, records.stale_before())  # (or another test's sweep did)
            session.commit()
        swept = ledger(database, budgeted.workspace_id)[0]
        assert swept["status"] == "unsettled"
        charged = swept["cost_usd"]  # its reserved maximum
    assert charged > 0
    assert budget(database, budgeted.workspace_id) == (today.cost_usd + charged,
                                                       pending["reserved_usd"])


def test_a_request_a_hard_limit_refuses_leaves_no_pending_row(budgeted, database):
    with psycopg.connect(database.superuser_dsn) as connection:
        connection.execute("UPDATE llm_budgets SET spent_usd = 10, period_start = "
                           "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
                           "WHERE workspace_id = %s", (budgeted.workspace_id,))
    for path in ("/api/v1/llm/chat", "/api/v1/openai/chat/completions"):
        assert budgeted.call("POST", path, json=BODY).status_code == 429
    assert ledger(database, budgeted.workspace_id) == []
    assert budget(database, budgeted.workspace_id) == (10, 0)


def test_a_soft_limit_crossed_by_the_sweeps_charge_is_notified(app, budgeted, database):
    """A process ended before recording its answer; the sweep charges the call its reserved
    maximum, which crosses the soft limit: the workspace hears of it once, as when a record
    crosses it. Before, the sweep marked nothing and sent nothing."""
    with serve() as receiver:
        response = budgeted.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": receiver.url, "max_attempts": 1, "timeout_seconds": 2},
            "secrets": {"signing_secret": "s" * 32}})
        assert response.status_code in (200, 201), response.json
        assert budgeted.call("PUT", "/api/v1/budgets", json={"budgets": [
            {**BUDGET, "soft_limit_usd": "0.0000000001"}]}).status_code == 200
        dropped(app, budgeted)  # the record never runs
        aged(database, budgeted.workspace_id)
        owner = app.extensions[KEY]
        with activated(owner):  # as the worker's maintenance loop runs it
            assert sweeps.stale_llm_calls(owner.sessions) >= 1
            sweeps.stale_llm_calls(owner.sessions)  # a second pass: nothing more
        bodies = [json.loads(r.body) for r in receiver.requests]
    notices = [b for b in bodies if "budget" in json.dumps(b)]
    assert len(notices) == 1, bodies
