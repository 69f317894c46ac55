"""Schedules under real workers: one execution per tick with two workers racing for it, and
no pile-up while the bot is still running. Ticks are made due by moving ``next_run_at`` into
the past (the cron itself is yearly); the workers look for due ticks every 0.2 s."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.execution.conftest import (
    SLEEPER,
    TRIVIAL,
    bot_with,
    execution,
    finished,
    wait_for,
)

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# worker processes start once per run: two (the conftest's ``workers``), racing for every tick
# of every test.
pytestmark = pytest.mark.xdist_group("schedules")

# A cron that never comes due during a test: a per-minute one did when a test crossed a minute
# (one run more than the ticks made due, more likely the slower the test); make_due makes them.
YEARLY = "0 0 1 1 *"


def make_due(superuser, bot_id: str) -> datetime:
    """Move the schedule's next tick into the past; returns the tick (later for each run the
    bot already has, so ticks stay distinct and ordered)."""
    row = superuser.execute(
        "UPDATE bot_schedules SET next_run_at = date_trunc('minute', now()) - "
        "make_interval(mins => 100 - (SELECT count(*) FROM bot_executions WHERE bot_id = %s)::int)"
        " WHERE bot_id = %s RETURNING next_run_at", (bot_id, bot_id)).fetchone()
    return row[0]


def _schedule_row(superuser, bot_id: str) -> dict:
    row = superuser.execute("SELECT next_run_at, last_run_at, skipped_runs, last_execution_id "
                            "FROM bot_schedules WHERE bot_id = %s", (bot_id,)).fetchone()
    return {"next_run_at": row[0], "last_run_at": row[1], "skipped_runs": row[2],
            "last_execution_id": row[3]}


def scheduled_runs(tenant, bot_id: str) -> list[dict]:
    page = tenant.call("GET", f"/api/v1/bots/{bot_id}/executions?page_size=100").json
    return [item for item in page["items"] if item["trigger"] == "schedule"]


def test_two_workers_make_exactly_one_execution_per_tick(workers, tenant, superuser):
    assert len(workers) == 2
    bot = bot_with(tenant, TRIVIAL)
    put = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule",
                      json={"cron": YEARLY, "input": {"from": "cron"}})
    assert put.status_code == 200
    ticks = []
    for number in range(1, 5):
        ticks.append(make_due(superuser, bot["id"]))
        made = wait_for(lambda n=number: len(scheduled_runs(tenant, bot["id"])) >= n and
                        _schedule_row(superuser, bot["id"])["next_run_at"] > datetime.now(UTC),
                        message=f"tick {number} to be claimed")
        assert made
        for item in scheduled_runs(tenant, bot["id"]):
            finished(tenant, item["id"])
    runs = scheduled_runs(tenant, bot["id"])
    assert len(runs) == 4
    assert sorted(datetime.fromisoformat(item["scheduled_for"]) for item in runs) == ticks
    assert all(execution(tenant, item["id"])["input"] == {"from": "cron"} for item in runs)
    settled = scheduled_runs(tenant, bot["id"])
    assert [item["status"] for item in settled] == ["succeeded"] * 4, settled
    row = _schedule_row(superuser, bot["id"])
    assert row["skipped_runs"] == 0 and row["last_run_at"] == ticks[-1]
    # Each scheduled run is audited once, as the system's action.
    audited = tenant.call("GET", "/api/v1/audit-logs?action=execution.create&page_size=100"
                          ).json["items"]
    by_scheduler = {entry["resource_id"]: entry for entry in audited
                    if entry["actor_type"] == "system"}
    assert sorted(by_scheduler) == sorted(item["id"] for item in runs)
    assert all(entry["changes"]["trigger"] == "schedule" and entry["actor_id"] is None
               and entry["request_id"] == "scheduler" for entry in by_scheduler.values())


def test_a_tick_while_the_bot_still_runs_is_skipped(workers, tenant, superuser):
    bot = bot_with(tenant, SLEEPER, timeout_seconds=60)
    tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule",
                json={"cron": YEARLY, "input": {"seconds": 60}})
    make_due(superuser, bot["id"])
    (first,) = wait_for(lambda: scheduled_runs(tenant, bot["id"]), message="the first tick's run")
    wait_for(lambda: execution(tenant, first["id"])["status"] == "running",
             message="the first run to start")
    make_due(superuser, bot["id"])
    wait_for(lambda: _schedule_row(superuser, bot["id"])["skipped_runs"] == 1,
             message="the second tick to be skipped")
    assert [item["id"] for item in scheduled_runs(tenant, bot["id"])] == [first["id"]]
    schedule = tenant.call("GET", f"/api/v1/bots/{bot['id']}/schedule").json
    assert schedule["skipped_runs"] == 1 and schedule["last_execution_id"] == first["id"]
    assert datetime.fromisoformat(schedule["next_run_at"]) > datetime.now(UTC)
    assert tenant.call("POST", f"/api/v1/executions/{first['id']}/cancel").status_code == 202
    assert finished(tenant, first["id"], timeout=2)["status"] == "cancelled"


def test_a_schedule_that_no_longer_parses_is_disabled_and_audited(workers, tenant, superuser):
    bot = bot_with(tenant, TRIVIAL)
    tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json={"cron": "* * * * *"})
    superuser.execute("UPDATE bot_schedules SET cron = 'not a cron' WHERE bot_id = %s",
                      (bot["id"],))
    make_due(superuser, bot["id"])
    wait_for(lambda: superuser.execute("SELECT NOT enabled FROM bot_schedules WHERE bot_id = %s",
                                       (bot["id"],)).fetchone()[0],
             message="the schedule to be disabled")
    assert scheduled_runs(tenant, bot["id"]) == []
    (entry,) = tenant.call("GET", "/api/v1/audit-logs?action=schedule.disable").json["items"]
    assert entry["resource_id"] == bot["id"] and entry["actor_type"] == "system"
    assert entry["changes"]["cron"] == "not a cron"
