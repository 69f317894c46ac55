"""/health's ``worker`` check: a queued run with no worker to take it is reported, not hidden
behind ``"status": "ok"``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import Tenant, sign_up


@pytest.fixture()
def queued(make_app, superuser) -> Iterator[tuple[object, Tenant]]:
    """An app whose stall timeout is one second, and a workspace with one queued run."""
    app = make_app(worker_stalled_seconds=1.0)
    tenant = sign_up(app.test_client())
    bot = tenant.create_bot()
    run = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"input": {}})
    assert run.status_code == 202, run.json
    # No worker of an earlier test may look alive to this one.
    superuser.execute("DELETE FROM procrastinate_workers")
    yield app, tenant
    tenant.call("POST", f"/api/v1/executions/{run.json['id']}/cancel")


def worker_check(client) -> tuple[int, dict]:
    response = client.get("/health")
    return response.status_code, response.json["checks"]["worker"]


def test_health_reports_a_missing_worker_while_runs_wait(queued):
    app, _tenant = queued
    client = app.test_client()
    deadline = time.monotonic() + 15
    while (check := worker_check(client))[1]["ok"]:
        assert time.monotonic() < deadline, f"the worker check stayed ok: {check}"
        time.sleep(0.1)
    status, body = check
    assert status == 503
    assert client.get("/health").json["status"] == "failing"
    assert body["waiting_jobs"] >= 1 and body["oldest_wait_seconds"] >= 1.0
    assert body["last_heartbeat_seconds_ago"] is None
    assert "codex32 worker" in body["error"]


def test_a_recent_worker_heartbeat_makes_the_check_ok(queued, superuser):
    app, _tenant = queued
    client = app.test_client()
    deadline = time.monotonic() + 15
    while worker_check(client)[1]["ok"]:  # first: the run has waited past the timeout
        assert time.monotonic() < deadline
        time.sleep(0.1)
    superuser.execute("INSERT INTO procrastinate_workers DEFAULT VALUES")
    try:
        _status, body = worker_check(client)
        assert body["ok"] is True
        assert body["waiting_jobs"] >= 1 and body["last_heartbeat_seconds_ago"] < 1.0
    finally:
        superuser.execute("DELETE FROM procrastinate_workers")


def test_a_run_waiting_less_than_the_stall_timeout_is_not_reported(make_app, tenant):
    app = make_app(worker_stalled_seconds=3600.0)
    bot = tenant.create_bot()
    run = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"input": {}})
    try:
        assert worker_check(app.test_client())[1]["ok"] is True
    finally:
        tenant.call("POST", f"/api/v1/executions/{run.json['id']}/cancel")
