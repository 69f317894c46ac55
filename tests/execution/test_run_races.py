"""A run's record under races and odd output, driven in this process (no worker process): a
cancel meeting a job no worker holds, live logs a bot fills with what PostgreSQL cannot store,
and an executor stopped by the worker's own deadline rather than by anyone's cancel."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from typing import Any

import pytest
from procrastinate.jobs import Job

from codex32.execution import live_logs, queue, worker
from codex32.plugins.runs import ExecutionOutcome, ExecutionRequest
from tests.execution.conftest import TRIVIAL, bot_with, jobs, run


def _started(tenant, superuser, worker_runtime, **settings: Any) -> worker.Started:
    """A queued run of a trivial bot (with these settings), marked running by its job as a
    worker would."""
    queued = run(tenant, bot_with(tenant, TRIVIAL, **settings)["id"])
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


def test_cancelling_again_ends_a_run_whose_job_was_given_up_since(
        tenant, superuser, worker_runtime):
    started = _started(tenant, superuser, worker_runtime)
    superuser.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s",
                      (started.job_id,))
    url = f"/api/v1/executions/{started.execution_id}/cancel"
    assert tenant.call("POST", url).status_code == 202  # its worker is asked to stop
    assert tenant.call("POST", url).status_code == 202  # asked already: nothing changes
    # The worker could not store the outcome and its job ran out of attempts.
    superuser.execute("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s",
                      (started.job_id,))
    response = tenant.call("POST", url)
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert tenant.call("POST", url).status_code == 409


def test_live_logs_with_a_nul_byte_are_still_published(tenant, superuser, worker_runtime):
    started = _started(tenant, superuser, worker_runtime)
    live = live_logs.LiveLogs(worker_runtime.sessions, started.workspace_id,
                              started.execution_id, started.job_id, {})
    live.feed(b"before\x00after\n")
    live._due = 0.0  # due now
    live.publish_if_due()
    assert _shown(tenant, started)["logs"] == "before\ufffdafter\n"


class _Deaf:
    """An executor that ignores its run's timeout and stops only when told to."""

    id = "deaf"

    def run(self, request: ExecutionRequest, cancel: threading.Event) -> ExecutionOutcome:
        cancel.wait(10)
        return ExecutionOutcome(status="cancelled", logs="partial\n")


def test_an_executor_stopped_at_the_deadline_is_timed_out_not_cancelled(
        tenant, superuser, worker_runtime, monkeypatch):
    monkeypatch.setattr(worker, "EXECUTOR_GRACE_SECONDS", 0.0)
    started = _started(tenant, superuser, worker_runtime)
    limits = dataclasses.replace(started.request.limits, timeout_seconds=0.2)
    started = dataclasses.replace(started, executor=_Deaf(),
                                  request=dataclasses.replace(started.request, limits=limits))
    outcome = worker.run(started, lambda: False)
    assert outcome.status == "timed_out", outcome
    assert outcome.error and outcome.error["type"] == "WallTimeExceeded"
    assert outcome.logs == "partial\n"
    worker.store(worker_runtime, started, outcome)
    shown = _shown(tenant, started)
    assert shown["status"] == "timed_out" and not shown["cancel_requested"]


def test_two_rules_naming_one_notifier_notify_it_once(tenant, superuser, worker_runtime):
    started = _started(tenant, superuser, worker_runtime, notifications=[
        {"notifier": "webhook", "on": ["failed"]},
        {"notifier": "webhook", "on": ["failed", "succeeded"]}])
    worker.store(worker_runtime, started, ExecutionOutcome(
        status="failed", error={"type": "ValueError", "message": "boom"}))
    sent = jobs(superuser, execution_id=started.execution_id)
    assert [(job["task_name"], job["args"]["notifier"]) for job in sent
            if job["task_name"] == "codex32.deliver_notification"] == [
        ("codex32.deliver_notification", "webhook")]
    deliveries = tenant.call("GET", f"/api/v1/executions/{started.execution_id}/deliveries")
    assert [row["notifier"] for row in deliveries.json] == ["webhook"]


def _published(worker_runtime, started: worker.Started, text: bytes) -> None:
    live = live_logs.LiveLogs(worker_runtime.sessions, started.workspace_id,
                              started.execution_id, started.job_id, {})
    live.feed(text)
    live._due = 0.0
    live.publish_if_due()


def test_a_lost_workers_run_keeps_the_logs_it_showed(tenant, superuser, worker_runtime):
    started = _started(tenant, superuser, worker_runtime)
    _published(worker_runtime, started, b"step 1 done\n")
    assert _shown(tenant, started)["logs"] == "step 1 done\n"
    # Its worker stops sending heartbeats while the job is being run.
    superuser.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s",
                      (started.job_id,))
    job = Job(id=started.job_id, queue=queue.EXECUTIONS_QUEUE, lock=None, queueing_lock=None,
              task_name=queue.RUN_TASK, task_kwargs={
                  "workspace_id": started.workspace_id,
                  "execution_id": str(started.execution_id)})
    assert worker.recover(worker_runtime, job) == "failed"
    shown = _shown(tenant, started)
    assert shown["status"] == "failed" and shown["error"]["type"] == "WorkerLost"
    assert shown["logs"] == "step 1 done\n"


def test_a_run_handed_back_by_a_stopping_worker_starts_with_no_logs(
        tenant, superuser, worker_runtime):
    started = _started(tenant, superuser, worker_runtime)
    _published(worker_runtime, started, b"first attempt\n")
    assert worker.requeue(worker_runtime, started, attempts=0)
    shown = _shown(tenant, started)
    assert shown["status"] == "queued" and shown["logs"] == ""
    # The next attempt prints nothing: it does not end with the first one's logs.
    again = worker.start(worker_runtime, tenant.workspace_id, started.execution_id,
                         started.job_id)
    assert again is not None
    worker.store(worker_runtime, again, ExecutionOutcome(status="succeeded"))
    assert _shown(tenant, started)["logs"] == ""


def test_live_logs_ending_inside_a_multiline_secret_show_none_of_it(
        tenant, superuser, worker_runtime):
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    started = _started(tenant, superuser, worker_runtime)
    live = live_logs.LiveLogs(worker_runtime.sessions, started.workspace_id,
                              started.execution_id, started.job_id, {"KEY": key})
    live.feed(b"loaded\n" + key.encode()[:40])  # the key's first line is whole so far
    live._due = 0.0
    live.publish_if_due()
    shown = _shown(tenant, started)["logs"]
    assert shown.startswith("loaded\n") and "BEGIN PRIVATE KEY" not in shown, shown


def _archive(tenant, bot_id) -> None:
    response = tenant.call("PATCH", f"/api/v1/bots/{bot_id}", json={"status": "archived"})
    assert response.status_code == 200, response.json


def test_a_run_queued_before_its_bot_was_archived_does_not_start(
        tenant, superuser, worker_runtime):
    # Archiving stops what would run on its own (new runs are 409, ticks are skipped): a run
    # still queued is settled as cancelled, saying why, instead of running the archived code.
    queued = run(tenant, bot_with(tenant, TRIVIAL)["id"])
    _archive(tenant, queued["bot_id"])
    job_id = superuser.execute("SELECT job_id FROM bot_executions WHERE id = %s",
                               (queued["id"],)).fetchone()[0]
    assert worker.start(worker_runtime, tenant.workspace_id, uuid.UUID(queued["id"]),
                        job_id) is None
    shown = tenant.call("GET", f"/api/v1/executions/{queued['id']}").json
    assert shown["status"] == "cancelled" and shown["started_at"] is None
    assert shown["error"]["type"] == "BotArchived"


@pytest.mark.parametrize("status", ["archived", "paused"])
def test_a_failed_run_of_a_bot_paused_or_archived_meanwhile_is_not_retried(
        tenant, superuser, worker_runtime, status):
    # A retry runs on its own, as a scheduled tick does: a bot whose runs keep failing is
    # paused to stop them, and its retries must stop too.
    started = _started(tenant, superuser, worker_runtime, max_retries=2)
    bot_id = superuser.execute("SELECT bot_id FROM bot_executions WHERE id = %s",
                               (str(started.execution_id),)).fetchone()[0]
    response = tenant.call("PATCH", f"/api/v1/bots/{bot_id}", json={"status": status})
    assert response.status_code == 200, response.json
    worker.store(worker_runtime, started, ExecutionOutcome(
        status="failed", error={"type": "RuntimeError", "message": "boom"}))
    shown = _shown(tenant, started)
    assert shown["status"] == "failed" and shown["retried_by"] is None
    (count,) = superuser.execute("SELECT count(*) FROM bot_executions WHERE bot_id = %s",
                                 (bot_id,)).fetchone()
    assert count == 1


def test_a_failed_delivery_backs_off_from_the_runtimes_setting_doubling(make_app):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from codex32 import runtime
    from codex32.plugins.errors import ConfigInvalid

    app = make_app(notification_retry_seconds=0.25, notification_max_attempts=4)
    with runtime.activated(runtime.of(app)):
        decide = queue.notification_retry.get_retry_decision
        asked = datetime.now(UTC)
        waits = [decide(exception=ConnectionError("refused"), job=SimpleNamespace(attempts=n))
                 for n in range(4)]
        refused = decide(exception=ConfigInvalid("no url"), job=SimpleNamespace(attempts=0))
    seconds = [(w.retry_at - asked).total_seconds() for w in waits[:3]]
    assert all(want <= got < want + 0.2
               for want, got in zip((0.25, 0.5, 1.0), seconds, strict=True)), seconds
    assert waits[3] is None and refused is None  # past the last attempt; a refusal is final
