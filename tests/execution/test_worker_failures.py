"""Workers that die or stop: a SIGKILLed worker's runs are settled exactly once by the bot's
retry policy within a minute, and SIGTERM finishes or hands back running work in the grace
period. Each test starts its own workers (stall threshold 2 s, heartbeat 0.5 s)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from codex32.execution import sandbox
from codex32.execution.sandbox import cgroups
from codex32.execution.sandbox.launch import cgroup_layout, run_tag
from tests.execution.conftest import (
    SLEEPER,
    WorkerProcess,
    bot_with,
    execution,
    finished,
    jobs,
    processes_mentioning,
    run,
    wait_for,
    worker_env,
)
from tests.execution.sandbox_support import make_request, parent_of


def url_with(url: str, **parts: str) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)


def _holder(execution_id: str, workers: list[WorkerProcess]) -> WorkerProcess | None:
    """The worker whose process tree runs this execution's bot."""
    by_pid = {worker.pid: worker for worker in workers}
    for pid in processes_mentioning(execution_id):
        while pid > 1:
            if pid in by_pid:
                return by_pid[pid]
            pid = parent_of(pid)
    return None


def _kill_run(execution_id: str) -> None:
    """What the machine's loss would do to the bot (which dies with its worker anyway)."""
    for pid in processes_mentioning(execution_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _running(tenant, execution_id: str) -> None:
    wait_for(lambda: execution(tenant, execution_id)["status"] == "running",
             message=f"{execution_id} to run")
    wait_for(lambda: processes_mentioning(execution_id), message="the bot's process")


def _job_status(superuser, execution_id: str) -> str:
    return superuser.execute("SELECT j.status::text FROM procrastinate_jobs j JOIN "
                             "bot_executions e ON e.job_id = j.id WHERE e.id = %s",
                             (execution_id,)).fetchone()[0]


def test_a_killed_workers_runs_are_settled_once_by_the_retry_policy(start_own_worker, tenant,
                                                                     superuser):
    doomed = start_own_worker(WORKER_CONCURRENCY=2)
    retried = bot_with(tenant, SLEEPER, timeout_seconds=60, max_retries=1,
                       retry_backoff_seconds=0)
    single = bot_with(tenant, SLEEPER, timeout_seconds=60)  # max_retries 0
    x1, y1 = run(tenant, retried["id"]), run(tenant, single["id"])
    _running(tenant, x1["id"])
    _running(tenant, y1["id"])
    rescuers = start_own_worker.several(2)  # two recoverers racing
    killed = time.monotonic()
    doomed.kill()
    _kill_run(x1["id"])
    _kill_run(y1["id"])

    x1, y1 = finished(tenant, x1["id"], timeout=60), finished(tenant, y1["id"], timeout=60)
    assert time.monotonic() - killed < 60
    assert x1["status"] == "failed" and x1["error"]["type"] == "WorkerLost"
    assert y1["status"] == "failed" and y1["error"]["type"] == "WorkerLost"
    assert y1["retried_by"] is None  # max_retries 0: failed, not retried
    assert x1["retried_by"]
    x2 = execution(tenant, x1["retried_by"])
    assert x2["trigger"] == "retry" and x2["attempt"] == 2 and x2["retry_of"] == x1["id"]

    # The retry's worker dies too: attempts are capped at 1 + max_retries.
    _running(tenant, x2["id"])
    holder = _holder(x2["id"], rescuers)
    assert holder is not None
    holder.kill()
    _kill_run(x2["id"])
    x2 = finished(tenant, x2["id"], timeout=60)
    assert x2["status"] == "failed" and x2["error"]["type"] == "WorkerLost"
    assert x2["retried_by"] is None
    assert tenant.call("GET", f"/api/v1/bots/{retried['id']}/executions").json["total"] == 2
    assert tenant.call("GET", f"/api/v1/bots/{single['id']}/executions").json["total"] == 1
    assert {_job_status(superuser, item) for item in (x1["id"], y1["id"], x2["id"])} == \
        {"failed"}


def test_a_bot_dies_with_its_worker_killed_by_sigkill(start_own_worker, tenant):
    doomed = start_own_worker()
    queued = run(tenant, bot_with(tenant, SLEEPER, timeout_seconds=300)["id"])
    _running(tenant, queued["id"])
    bots = processes_mentioning(queued["id"])
    doomed.kill()  # the worker alone: its bots run in sessions of their own
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in bots), timeout=5,
             message="the bot's processes to die with their worker")
    assert processes_mentioning(queued["id"]) == []
    sandbox.kill_run(queued["id"])  # what recovery does: the empty cgroup is removed too
    assert not sandbox.kill_run(queued["id"])


def test_recovery_kills_a_lost_runs_processes_before_settling_it(tmp_path):
    if not sandbox.availability(sandbox.SandboxPolicy()).cgroups:
        pytest.skip("without cgroups a lost run is found by nothing but its dead worker")
    request = make_request(SLEEPER, event={"seconds": 600}, timeout_seconds=600)
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(
        sandbox.run_sandboxed(request, None, sandbox.SandboxPolicy())))
    thread.start()
    group = cgroups.RunGroup(cgroup_layout(), run_tag(request.execution_id))
    # In its cgroup, not merely started: before the move the run has nothing to be found by.
    wait_for(group.pids, message="the bot to join its cgroup")
    assert sandbox.kill_run(request.execution_id)
    thread.join(timeout=30)  # a deadline, not a wait: under load the supervisor's drain is slow
    assert not thread.is_alive(), "the killed run's supervisor did not return"
    assert outcomes[0].status == "failed" and outcomes[0].error["type"] == "Killed"
    assert processes_mentioning(request.execution_id) == []


def test_sigterm_lets_a_running_execution_finish_in_the_grace_period(start_own_worker, tenant):
    stopping = start_own_worker(WORKER_SHUTDOWN_GRACE_SECONDS=10)
    queued = run(tenant, bot_with(tenant, SLEEPER)["id"], {"input": {"seconds": 1.5}})
    _running(tenant, queued["id"])
    stopping.signal(signal.SIGTERM)
    assert stopping.process.wait(timeout=10) == 0
    done = execution(tenant, queued["id"])
    assert done["status"] == "succeeded" and done["result"] == "woke", (
        {k: done.get(k) for k in ("status", "error", "error_type", "logs", "result")},
        stopping.output())


def test_sigterm_past_the_grace_period_hands_the_run_back(start_own_worker, tenant,
                                                          superuser):
    stopping = start_own_worker(WORKER_SHUTDOWN_GRACE_SECONDS=0.5)
    queued = run(tenant, bot_with(tenant, SLEEPER, timeout_seconds=60)["id"])
    _running(tenant, queued["id"])
    asked = time.monotonic()
    stopping.signal(signal.SIGTERM)
    assert stopping.process.wait(timeout=10) == 0
    # Well short of the bot's 60 s: the run was stopped at the grace period, not waited for.
    # (Seconds, not the grace's half second: a loaded CI machine took 3.4 s to wind down.)
    assert time.monotonic() - asked < 15
    back = execution(tenant, queued["id"])
    assert back["status"] == "queued" and back["started_at"] is None
    assert not processes_mentioning(queued["id"])
    (job,) = jobs(superuser, execution_id=queued["id"])
    assert job["status"] == "todo" and job["attempts"] == 1
    start_own_worker()  # the next worker takes it up again
    _running(tenant, queued["id"])
    tenant.call("POST", f"/api/v1/executions/{queued['id']}/cancel")
    assert finished(tenant, queued["id"], timeout=2)["status"] == "cancelled"


def test_a_worker_refuses_to_start_as_a_role_that_bypasses_rls(database, tmp_path):
    superuser_url = psycopg.conninfo.conninfo_to_dict(database.superuser_dsn)
    env = worker_env(database, tmp_path, DATABASE_URL=url_with(
        database.urls.runtime, username=superuser_url.get("user") or "postgres",
        password=superuser_url.get("password")))
    result = subprocess.run([sys.executable, "-m", "codex32.cli", "worker"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "superuser" in result.stderr + result.stdout
