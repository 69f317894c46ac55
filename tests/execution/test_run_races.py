"""A run's record under races and odd output, driven in this process (no worker process): a
cancel meeting a job no worker holds, live logs a bot fills with what PostgreSQL cannot store,
and an executor stopped by the worker's own deadline rather than by anyone's cancel."""

from __future__ import annotations

import uuid
from typing import Any

from codex32.execution import live_logs, worker
from tests.execution.conftest import TRIVIAL, bot_with, run


def _started(tenant, superuser, worker_runtime) -> worker.Started:
    """A queued run of a trivial bot, marked running by its job as a worker would."""
    queued = run(tenant, bot_with(tenant, TRIVIAL)["id"])
    job_id = superuser.execute("SELECT job_id FROM bot_executions WHERE id = %s",
                               (queued["id"],)).fetchone()[0]
    started = worker.start(worker_runtime, tenant.workspace_id, uuid.UUID(queued["id"]), job_id)
    assert started is not None
    return started


def _shown(tenant, started: worker.Started) -> dict[str, Any]:
    return tenant.call("GET", f"/api/v1/executions/{started.execution_id}").json


def test_cancelling_a_running_execution_whose_job_no_worker_holds_ends_it(
        tenant, superuser, worker_runtime):
    # The run's job went back to the queue (its outcome could not be stored; or it used up
    # its attempts): no worker will answer the abort request, so the cancel settles the run,
    # or it stays running for good and the bot's schedule skips every tick after.
    started = _started(tenant, superuser, worker_runtime)
    assert _shown(tenant, started)["status"] == "running"
    response = tenant.call("POST", f"/api/v1/executions/{started.execution_id}/cancel")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled" and response.json["completed_at"]
    assert response.json["duration_seconds"] is not None
    # The job that comes back later changes nothing.
    assert worker.start(worker_runtime, tenant.workspace_id, started.execution_id,
                        started.job_id) is None
    assert _shown(tenant, started)["status"] == "cancelled"
    audited = superuser.execute(
        "SELECT changes FROM audit_logs WHERE action = 'execution.cancel' "
        "AND resource_id = %s", (str(started.execution_id),)).fetchall()
    assert [row[0]["status"] for row in audited] == [{"before": "running", "after": "cancelled"}]


def test_live_logs_with_a_nul_byte_are_still_published(tenant, superuser, worker_runtime):
    started = _started(tenant, superuser, worker_runtime)
    live = live_logs.LiveLogs(worker_runtime.sessions, started.workspace_id,
                              started.execution_id, started.job_id, {})
    live.feed(b"before\x00after\n")
    live._due = 0.0  # due now
    live.publish_if_due()
    assert _shown(tenant, started)["logs"] == "before\ufffdafter\n"
