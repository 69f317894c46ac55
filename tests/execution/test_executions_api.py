"""The execution, schedule and bot-settings API, with no worker running: what is queued, kept,
refused and cancelled, and what a job may see of other workspaces."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from codex32.db import tenancy
from codex32.db.models import BotExecution
from codex32.execution import scheduler, worker
from tests.conftest import sign_up
from tests.execution.conftest import TRIVIAL, bot_with, jobs, run
from tests.execution.test_schedules import make_due, scheduled_runs


def _job_of(superuser, execution_id: str) -> dict:
    job_id = superuser.execute("SELECT job_id FROM bot_executions WHERE id = %s",
                               (execution_id,)).fetchone()[0]
    (job,) = [job for job in jobs(superuser) if job["id"] == job_id]
    return job


# --- queuing ---------------------------------------------------------------------------------


def test_posting_an_execution_queues_it_with_its_job(tenant, superuser):
    bot = bot_with(tenant, TRIVIAL)
    response = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                           json={"input": {"n": 2}})
    assert response.status_code == 202
    body = response.json
    assert body["status"] == "queued" and body["trigger"] == "api" and body["attempt"] == 1
    assert body["input"] == {"n": 2} and body["version"] == 1 and body["result"] is None
    assert response.headers["Location"] == f"/api/v1/executions/{body['id']}"
    job = _job_of(superuser, body["id"])
    assert job["task_name"] == "codex32.run_execution" and job["status"] == "todo"
    assert job["args"] == {"workspace_id": tenant.workspace_id, "execution_id": body["id"]}


def test_an_idempotency_key_returns_the_first_execution(client, tenant, superuser):
    bot = bot_with(tenant, TRIVIAL)
    first = run(tenant, bot["id"], {"input": {"n": 1}}, **{"Idempotency-Key": "order-42"})
    again = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                        json={"input": {"n": 99}}, headers={"Idempotency-Key": "order-42"})
    assert again.status_code == 200
    assert again.json["id"] == first["id"] and again.json["input"] == {"n": 1}
    assert len([j for j in jobs(superuser, execution_id=first["id"])]) == 1
    # The key is scoped to the workspace: another one gets its own execution.
    other = sign_up(client)
    other_bot = bot_with(other, TRIVIAL)
    theirs = run(other, other_bot["id"], **{"Idempotency-Key": "order-42"})
    assert theirs["id"] != first["id"]
    # Reusing a key for another bot is a conflict, not a silent replay.
    second_bot = bot_with(tenant, TRIVIAL)
    reused = tenant.call("POST", f"/api/v1/bots/{second_bot['id']}/executions", json={},
                         headers={"Idempotency-Key": "order-42"})
    assert reused.status_code == 409


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_a_malformed_idempotency_key_is_422(tenant, key):
    bot = bot_with(tenant, TRIVIAL)
    response = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={},
                           headers={"Idempotency-Key": key.encode().decode("latin-1")})
    assert response.status_code == 422


def test_a_rolled_back_request_leaves_no_execution_and_no_job(tenant, superuser, monkeypatch):
    from codex32.services import audit

    bot = bot_with(tenant, TRIVIAL)
    jobs_before = len(jobs(superuser))

    def fail(*args, **kwargs):
        raise RuntimeError("the audit log is down")

    monkeypatch.setattr(audit, "record", fail)
    response = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={})
    assert response.status_code == 500
    monkeypatch.undo()
    count = superuser.execute("SELECT count(*) FROM bot_executions WHERE bot_id = %s",
                              (bot["id"],)).fetchone()[0]
    assert count == 0
    assert len(jobs(superuser)) == jobs_before  # the job was deferred, then rolled back
    # And the same request without the failure commits both.
    body = run(tenant, bot["id"])
    assert _job_of(superuser, body["id"])["status"] == "todo"


def test_runs_are_refused_for_bots_without_code_or_with_a_missing_version(tenant):
    empty = tenant.create_bot(code=None)
    assert tenant.call("POST", f"/api/v1/bots/{empty['id']}/executions",
                       json={}).status_code == 409
    bot = bot_with(tenant, TRIVIAL)
    missing = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"version": 7})
    assert missing.status_code == 422
    nul = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                      json={"input": {"text": "a\u0000b"}})
    assert nul.status_code == 422
    assert tenant.call("POST", f"/api/v1/bots/{uuid.uuid4()}/executions",
                       json={}).status_code == 404


def test_lists_page_and_filter(tenant):
    bot = bot_with(tenant, TRIVIAL)
    other = bot_with(tenant, TRIVIAL)
    made = [run(tenant, bot["id"])["id"] for _ in range(3)] + [run(tenant, other["id"])["id"]]
    tenant.call("POST", f"/api/v1/executions/{made[0]}/cancel")
    page = tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions?page_size=2").json
    assert page["total"] == 3 and len(page["items"]) == 2
    assert [item["id"] for item in page["items"]] == [made[2], made[1]]
    assert "logs" not in page["items"][0] and "input" not in page["items"][0]
    cancelled = tenant.call("GET", "/api/v1/executions?status=cancelled").json
    assert [item["id"] for item in cancelled["items"]] == [made[0]]
    everything = tenant.call("GET", "/api/v1/executions").json
    assert everything["total"] == 4
    by_bot = tenant.call("GET", f"/api/v1/executions?bot_id={other['id']}").json
    assert [item["id"] for item in by_bot["items"]] == [made[3]]
    assert tenant.call("GET", "/api/v1/executions?status=lost").status_code == 422
    beyond = tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions?page=9").json
    assert beyond["items"] == [] and beyond["total"] == 3


# --- cancelling ------------------------------------------------------------------------------


def test_a_queued_execution_is_cancelled_at_once_and_then_409(tenant, superuser):
    bot = bot_with(tenant, TRIVIAL)
    body = run(tenant, bot["id"])
    response = tenant.call("POST", f"/api/v1/executions/{body['id']}/cancel")
    assert response.status_code == 200
    assert response.json["status"] == "cancelled" and response.json["cancel_requested"]
    assert response.json["completed_at"] is not None
    assert _job_of(superuser, body["id"])["status"] == "cancelled"  # no worker will take it
    again = tenant.call("POST", f"/api/v1/executions/{body['id']}/cancel")
    assert again.status_code == 409


# --- bot settings ----------------------------------------------------------------------------


def test_bot_settings_are_merged_and_bounded_by_the_platform(tenant):
    bot = bot_with(tenant, TRIVIAL, timeout_seconds=10)
    assert bot["settings"] == {"timeout_seconds": 10}
    patched = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"settings": {
        "memory_mb": 128, "max_retries": 2, "retry_backoff_seconds": 1,
        "notifications": [{"notifier": "log", "on": ["failed", "timed_out"]}]}})
    assert patched.status_code == 200, patched.json
    assert patched.json["settings"]["timeout_seconds"] == 10
    assert patched.json["settings"]["max_retries"] == 2
    removed = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                          json={"settings": {"timeout_seconds": None}}).json
    assert "timeout_seconds" not in removed["settings"]
    for too_much in ({"timeout_seconds": 301}, {"memory_mb": 4096}, {"max_retries": 6},
                     {"retry_backoff_seconds": 7200}, {"timeout_seconds": 0},
                     {"colour": "red"}, {"notifications": [{"notifier": "log", "on": ["x"]}]}):
        response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                               json={"settings": too_much})
        assert response.status_code == 422, too_much
    unknown = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"settings": {
        "notifications": [{"notifier": "pigeon", "on": ["failed"]}]}})
    assert unknown.status_code == 422 and "pigeon" in repr(unknown.json)


def test_bot_settings_are_bounded_by_the_workspace(tenant):
    updated = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"execution": {
        "max_timeout_seconds": 20, "max_retries": 1, "allow_network": False}}})
    assert updated.status_code == 200, updated.json
    bot = bot_with(tenant, TRIVIAL)
    for too_much in ({"timeout_seconds": 21}, {"max_retries": 2}, {"network": True},
                     {"cpu_seconds": 60}):
        response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                               json={"settings": too_much})
        assert response.status_code == 422, too_much
    assert tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                       json={"settings": {"timeout_seconds": 20}}).status_code == 200
    assert tenant.call("POST", "/api/v1/bots", json={
        "name": "greedy", "code": TRIVIAL, "settings": {"max_retries": 3}}).status_code == 422
    bad = tenant.call("PATCH", "/api/v1/workspace",
                      json={"settings": {"execution": {"max_timeout_seconds": "soon"}}})
    assert bad.status_code == 422


def test_run_settings_are_clamped_to_maxima_lowered_later():
    from codex32.services.bot_settings import Maxima, effective

    platform = Maxima(timeout_seconds=300, memory_mb=1024, max_retries=5,
                      retry_backoff_seconds=3600, network=True)
    run_settings = effective({"timeout_seconds": 200, "network": True, "max_retries": 4},
                             platform.lowered_by({"execution": {"max_timeout_seconds": 60,
                                                                "allow_network": False}}))
    assert run_settings.timeout_seconds == 60 and run_settings.network is False
    assert run_settings.max_retries == 4 and run_settings.memory_mb == 256
    assert run_settings.limits(4096).max_output_bytes == 4096
    assert [run_settings.backoff(n) for n in (1, 2, 3)] == [10, 20, 40]


# --- schedules -------------------------------------------------------------------------------


def test_a_schedule_answers_its_next_five_runs_in_its_time_zone(tenant):
    bot = bot_with(tenant, TRIVIAL)
    response = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json={
        "cron": "30 9 * * 1-5", "timezone": "Europe/Paris", "input": {"report": "daily"}})
    assert response.status_code == 200, response.json
    body = response.json
    runs = [datetime.fromisoformat(value) for value in body["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs) and len(set(runs)) == 5
    assert all(run_at.hour == 9 and run_at.minute == 30 and run_at.weekday() < 5
               for run_at in runs)
    assert all(run_at.utcoffset() in (timedelta(hours=1), timedelta(hours=2)) for run_at in runs)
    assert datetime.fromisoformat(body["next_run_at"]) == runs[0]
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/schedule").json["next_runs"] == \
        body["next_runs"]
    disabled = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule",
                           json={"cron": "30 9 * * 1-5", "enabled": False}).json
    assert disabled["next_runs"] == [] and disabled["next_run_at"] is None
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}/schedule").status_code == 204
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/schedule").status_code == 404


@pytest.mark.parametrize("body", [
    {"cron": "61 * * * *"}, {"cron": "* * * *"}, {"cron": "* * * * * *"},
    {"cron": "0 0 30 2 *"}, {"cron": "every minute"},
    {"cron": "* * * * *", "timezone": "Mars/Olympus"},
    {"cron": "* * * * *", "timezone": "../../etc/passwd"},
    {"cron": "* * * * *", "timezone": ""},
])
def test_an_invalid_cron_or_time_zone_is_422(tenant, body):
    bot = bot_with(tenant, TRIVIAL)
    response = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json=body)
    assert response.status_code == 422, response.json
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/schedule").status_code == 404


def test_many_claimers_racing_for_one_tick_make_one_execution(database, tenant, superuser):
    # No worker runs in this module: eight scheduler threads claim the same due tick at once.
    bot = bot_with(tenant, TRIVIAL)
    tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json={"cron": "*/5 * * * *"})
    tick = make_due(superuser, bot["id"])
    engine = create_engine(database.urls.runtime, pool_size=10)
    sessions = sessionmaker(engine, expire_on_commit=False)
    barrier, results = threading.Barrier(8), []

    def claim() -> None:
        barrier.wait()
        results.append(scheduler.fire(sessions, uuid.UUID(tenant.workspace_id),
                                      uuid.UUID(bot["id"]), tick))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert sorted(results) == [0] * 7 + [1]
    (made,) = scheduled_runs(tenant, bot["id"])
    assert datetime.fromisoformat(made["scheduled_for"]) == tick
    tenant.call("POST", f"/api/v1/executions/{made['id']}/cancel")


# --- what a job can see ----------------------------------------------------------------------


def test_a_job_bound_to_one_workspace_cannot_read_or_run_anothers_execution(
        app, client, superuser, worker_runtime):
    owner, intruder = sign_up(client), sign_up(client)
    theirs = run(owner, bot_with(owner, TRIVIAL)["id"])
    job_id = superuser.execute("SELECT job_id FROM bot_executions WHERE id = %s",
                               (theirs["id"],)).fetchone()[0]
    # A forged job: the intruder's workspace with the owner's execution id and job id.
    assert worker.start(worker_runtime, intruder.workspace_id, uuid.UUID(theirs["id"]),
                        job_id) is None
    with worker_runtime.sessions() as session, tenancy.bound(session, intruder.workspace_id):
        assert session.execute(select(BotExecution).where(
            BotExecution.id == uuid.UUID(theirs["id"]))).scalar() is None
        assert session.execute(text("SELECT count(*) FROM bots")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM bot_executions "
                                    "WHERE workspace_id = :w"),
                               {"w": owner.workspace_id}).scalar() == 0
    untouched = owner.call("GET", f"/api/v1/executions/{theirs['id']}").json
    assert untouched["status"] == "queued" and untouched["started_at"] is None


def test_a_run_job_that_comes_back_after_losing_its_outcome_settles_the_run(
        tenant, superuser, worker_runtime):
    # A job retried after its outcome could not be stored finds its execution still running.
    queued = run(tenant, bot_with(tenant, TRIVIAL)["id"])
    job_id = superuser.execute("SELECT job_id FROM bot_executions WHERE id = %s",
                               (queued["id"],)).fetchone()[0]
    started = worker.start(worker_runtime, tenant.workspace_id, uuid.UUID(queued["id"]),
                           job_id)
    assert started is not None and started.request.code == TRIVIAL
    assert tenant.call("GET", f"/api/v1/executions/{queued['id']}").json["status"] == \
        "running"
    assert worker.start(worker_runtime, tenant.workspace_id, uuid.UUID(queued["id"]),
                        job_id) is None
    settled = tenant.call("GET", f"/api/v1/executions/{queued['id']}").json
    assert settled["status"] == "failed" and settled["error"]["type"] == "OutcomeLost"
