"""The run job's body: run one execution (load, run, store, queue its notifications), and
recover the jobs of a worker that was lost. The notification job's body is
:mod:`codex32.execution.notifications`.

A run job opens a tenant-bound transaction for the job's workspace, loads the execution, its
code and settings, builds the workspace's executor, marks the execution ``running``, commits
and closes the session. The bot runs with no database session open. A second tenant-bound
transaction stores the outcome and, in that same transaction, queues the retry or the
notifications it calls for. The version's requirements are checked and installed by
:mod:`codex32.execution.run_requirements`. Every state change locks the execution row and
checks it still expects this job, so a late, duplicate or forged job changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import JobContext
from procrastinate.job_context import AbortReason
from procrastinate.jobs import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from codex32.crypto import SecretsUndecryptable
from codex32.db import tenancy
from codex32.db.models import Bot, BotExecution, BotVersion, Workspace
from codex32.db.storable import storable
from codex32.errors import DomainError
from codex32.execution import (
    live_logs,
    network_hint,
    queue,
    run_requirements,
    run_services,
    sandbox,
)
from codex32.observability import execution_metrics as metrics
from codex32.observability import tracing
from codex32.observability.logging import log_context
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import ExecutionOutcome, ExecutionRequest, Executor
from codex32.runtime import Runtime, activated
from codex32.services import (
    bot_secrets,
    bot_settings,
    bots,
    deliveries,
    executions,
    provider_instances,
)

log = logging.getLogger(__name__)

ABORT_POLL_SECONDS = 0.05  # how often a run looks for a cancel or shutdown request
EXECUTOR_GRACE_SECONDS = 10.0  # past its timeout, an executor that did not stop is cancelled


@dataclass(frozen=True)
class Started:
    """An execution marked running, with what its run needs (no database objects)."""

    workspace_id: str
    execution_id: uuid.UUID
    job_id: int
    request: ExecutionRequest
    executor: Any
    run: bot_settings.RunSettings
    pins: tuple[str, ...] = ()  # the version's requirements (installed before the run)


def runtime_of(context: JobContext) -> Runtime:
    """The runtime of the worker running this job (its job context carries it)."""
    return context.additional_context["runtime"]


# --- running one execution -------------------------------------------------------------------


def run_execution(context: JobContext, workspace_id: str, execution_id: str) -> None:
    """The body of the run job: load and mark running, run, store the outcome."""
    rt = runtime_of(context)
    job_id = context.job.id
    assert job_id is not None
    with activated(rt), log_context(workspace_id=workspace_id, execution_id=execution_id,
                                    job_id=job_id):
        started = start(rt, workspace_id, uuid.UUID(execution_id), job_id)
        if started is None:
            return
        try:
            request = run_requirements.with_environment(rt, started.request, started.pins)
        except run_requirements.Unavailable as exc:
            outcome = _failure("RequirementsUnavailable", str(exc))
        else:
            live = live_logs.LiveLogs(rt.sessions, started.workspace_id, started.execution_id,
                                      job_id, request.secrets)
            request = dataclasses.replace(request, on_output=live.feed)
            outcome = run(dataclasses.replace(started, request=request), context.should_abort,
                          live)
        if context.abort_reason() == AbortReason.SHUTDOWN and outcome.status == "cancelled":
            if requeue(rt, started, attempts=context.job.attempts):
                raise queue.WorkerShutdown(f"execution {execution_id} handed back to the queue")
            return
        store(rt, started, outcome)


def start(rt: Runtime, workspace_id: str, execution_id: uuid.UUID,
          job_id: int) -> Started | None:
    """Mark the execution running and prepare its run; None when there is nothing to run."""
    with rt.sessions() as session, tenancy.bound(session, workspace_id):
        execution = _locked(session, execution_id)
        if execution is None or execution.job_id != job_id:
            log.warning("job %s names no execution of its workspace waiting for it", job_id)
            return None
        run = _run_settings(rt, session, execution.bot_id)
        if execution.status == "running":
            # This job ran before and could not store its outcome: settle the run now.
            _commit_final(session, execution, _failure(
                "OutcomeLost", "the run ended but its outcome could not be stored"), run)
            return None
        if execution.status != "queued":
            return None  # cancelled while queued, or already settled
        if execution.cancel_requested:
            _commit_final(session, execution, ExecutionOutcome(status="cancelled"), run)
            return None
        if session.execute(select(Bot.status).where(Bot.id == execution.bot_id)
                           ).scalar() == "archived":  # archived while this run was queued
            _commit_final(session, execution, ExecutionOutcome(status="cancelled", error={
                "type": "BotArchived", "message": "the bot was archived before the run "
                                                  "started"}), run)
            return None
        version = session.execute(select(BotVersion.code, BotVersion.files).where(
            BotVersion.bot_id == execution.bot_id,
            BotVersion.number == execution.version)).one_or_none()
        if version is None:
            _commit_final(session, execution, _failure(
                "VersionMissing", f"version {execution.version} of the bot no longer exists"), run)
            return None
        try:
            executor = provider_instances.build(session, workspace_id, Executor)
        except (DomainError, PluginError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            _commit_final(session, execution, _failure(
                "ExecutorUnavailable", f"the workspace's executor cannot run: {message}"), run)
            return None
        try:
            secrets = bot_secrets.for_run(session, execution.bot_id)
        except SecretsUndecryptable:
            _commit_final(session, execution, _failure(
                "SecretsUnavailable", "the bot's secrets cannot be decrypted with the "
                "configured keys: set them again"), run)
            return None
        pins, refused = run_requirements.pins_of_version(rt, session, version.files)
        if refused:
            _commit_final(session, execution, _failure("RequirementsRefused", refused), run)
            return None
        execution.status = "running"
        execution.started_at = datetime.now(UTC)
        request = ExecutionRequest(
            execution_id=str(execution.id), workspace_id=str(workspace_id),
            bot_id=str(execution.bot_id), code=version.code, event=dict(execution.input or {}),
            secrets=secrets, limits=run.limits(rt.settings.max_log_bytes),
            version=execution.version,
            services=run_services.for_run(rt.settings, rt.sessions, workspace_id,
                                          execution.bot_id, execution.id))
        session.commit()
    return Started(workspace_id=str(workspace_id), execution_id=execution_id, job_id=job_id,
                   request=request, executor=executor, run=run, pins=pins)


def run(started: Started, should_abort: Callable[[], bool],
        live: live_logs.LiveLogs | None = None) -> ExecutionOutcome:
    """Run the bot through the executor, with no database session open.

    A watcher thread turns a cancel or shutdown request (``should_abort``) into the executor's
    cancel event, and so does an executor still running well past its own timeout (the run
    then ends ``timed_out``: nobody cancelled it); with ``live``, it also publishes the logs so
    far about once a second.
    """
    cancel, done, overdue = threading.Event(), threading.Event(), threading.Event()
    timeout = started.request.limits.timeout_seconds
    deadline = time.monotonic() + timeout + EXECUTOR_GRACE_SECONDS

    def watch() -> None:
        while not done.wait(ABORT_POLL_SECONDS):
            asked = should_abort()
            if asked or time.monotonic() > deadline:
                if not asked:
                    overdue.set()
                cancel.set()
                return
            if live is not None:
                live.publish_if_due()

    watcher = threading.Thread(target=watch, name="codex32-run-watch", daemon=True)
    watcher.start()
    metrics.RUNNING.inc()
    try:
        with tracing.span("execute bot", attributes={
                "codex32.executor": started.executor.id,
                "codex32.execution_id": str(started.execution_id),
                "codex32.bot_id": started.request.bot_id}) as span:
            outcome = started.executor.run(started.request, cancel)
            if span is not None and isinstance(outcome, ExecutionOutcome):
                span.set_attribute("codex32.execution.status", str(outcome.status))
        if not isinstance(outcome, ExecutionOutcome) or outcome.status not in executions.FINAL:
            return _failure("ExecutorError", "the executor returned no valid outcome")
        if overdue.is_set() and outcome.status == "cancelled":
            return dataclasses.replace(outcome, status="timed_out", error={
                "type": "WallTimeExceeded", "message": f"the run took longer than {timeout:g} "
                "seconds and its executor did not stop it"})
        return outcome
    except Exception as exc:
        log.exception("the executor raised instead of returning an outcome")
        return _failure("ExecutorError", f"the executor failed ({type(exc).__name__})")
    finally:
        done.set()
        metrics.RUNNING.dec()
        watcher.join()


def store(rt: Runtime, started: Started, outcome: ExecutionOutcome) -> None:
    """Store how the run ended (with its retry or notifications), in one transaction."""
    try:
        _store(rt, started, outcome)
    except Exception:
        # What the bot produced could not be stored: store that instead of losing the run,
        # and if even that fails, let the job run again later to settle it (see start()).
        log.exception("storing the outcome failed; storing a failure instead")
        try:
            _store(rt, started, _failure("StoreError", "the run's outcome could not be stored",
                                         duration=outcome.duration_seconds))
        except Exception as exc:
            raise queue.OutcomeNotStored(str(started.execution_id)) from exc


def _store(rt: Runtime, started: Started, outcome: ExecutionOutcome) -> None:
    with rt.sessions() as session, tenancy.bound(session, started.workspace_id):
        execution = _locked(session, started.execution_id)
        if (execution is None or execution.status != "running"
                or execution.job_id != started.job_id):
            log.warning("execution %s was settled without this worker (status %s); its "
                        "outcome %s is dropped", started.execution_id,
                        execution.status if execution else "gone", outcome.status)
            return
        _commit_final(session, execution,
                      network_hint.with_network_hint(rt, started, outcome), started.run)


def requeue(rt: Runtime, started: Started, attempts: int) -> bool:
    """Hand a run stopped by a worker shutdown back to the queue; False when it ended instead.

    It ends ``cancelled`` when a cancel was asked meanwhile, and ``failed`` once it has been
    handed back too often.
    """
    with rt.sessions() as session, tenancy.bound(session, started.workspace_id):
        execution = _locked(session, started.execution_id)
        if execution is None or execution.status != "running":
            return False
        if execution.cancel_requested or attempts + 1 >= queue.MAX_RUN_ATTEMPTS:
            outcome = (ExecutionOutcome(status="cancelled") if execution.cancel_requested else
                       _failure("Interrupted", "stopped by worker shutdowns too many times"))
            _commit_final(session, execution, outcome, started.run)
            return False
        execution.status = "queued"
        execution.started_at = None
        execution.logs = ""  # the next attempt's logs start afresh
        session.commit()
    log.info("execution %s handed back to the queue by a stopping worker",
             started.execution_id)
    return True


# --- final states ----------------------------------------------------------------------------


def _commit_final(session: Session, execution: BotExecution, outcome: ExecutionOutcome,
                  run: bot_settings.RunSettings) -> None:
    """Give the execution its final status, queue its retry or notifications, commit, count.

    An outcome with no logs (a lost worker's, a lost outcome's) keeps the logs the running
    execution showed so far.
    """
    now = datetime.now(UTC)
    execution.status = outcome.status
    execution.result = storable(outcome.result)
    execution.error = storable(outcome.error)
    if outcome.logs or not execution.logs:
        execution.logs = storable(outcome.logs or "")
        execution.logs_truncated = outcome.logs_truncated
    execution.completed_at = now
    if outcome.status != "cancelled" or execution.started_at is not None:
        execution.duration_seconds = outcome.duration_seconds or (
            (now - execution.started_at).total_seconds() if execution.started_at else None)
        execution.cpu_seconds = outcome.cpu_seconds
        execution.peak_memory_bytes = outcome.peak_memory_bytes
    bot = None
    if (outcome.status in ("failed", "timed_out") and not execution.cancel_requested
            and execution.attempt <= run.max_retries):
        bot = session.get(Bot, (execution.workspace_id, execution.bot_id))
        if bot is not None and bot.status in bots.RESTING:  # nothing runs on its own
            bot = None
    if bot is not None:
        executions.create(
            session, bot, version=execution.version, input=execution.input or {},
            trigger="retry", attempt=execution.attempt + 1,
            created_by=execution.created_by, retry_of=execution.id,
            not_before=now + timedelta(seconds=run.backoff(execution.attempt)))
    elif outcome.status in bot_settings.NOTIFY_ON:
        for rule in run.notifications:
            if outcome.status in (rule.get("on") or ()):
                deliveries.queue(session, execution.workspace_id, execution.id,
                                 rule["notifier"], f"execution.{outcome.status}")
    session.commit()
    metrics.finished(outcome.status, execution.duration_seconds)


def _failure(kind: str, message: str, duration: float = 0.0) -> ExecutionOutcome:
    return ExecutionOutcome(status="failed", error={"type": kind, "message": message},
                            duration_seconds=duration)


def _locked(session: Session, execution_id: uuid.UUID) -> BotExecution | None:
    return session.execute(select(BotExecution).where(BotExecution.id == execution_id)
                           .with_for_update()).scalar()


def _run_settings(rt: Runtime, session: Session,
                  bot_id: uuid.UUID) -> bot_settings.RunSettings:
    own = session.execute(select(Bot.settings).where(Bot.id == bot_id)).scalar() or {}
    workspace = session.execute(select(Workspace.settings)).scalar() or {}
    maxima = bot_settings.Maxima.of_platform(rt.settings).lowered_by(workspace)
    return bot_settings.effective(own, maxima)


# --- jobs of lost workers --------------------------------------------------------------------


def recover(rt: Runtime, job: Job) -> str | None:
    """Settle a job whose worker stopped sending heartbeats; returns what was done.

    Exactly once however many workers try: the job row and the execution row are locked, and
    a job no longer ``doing`` is left alone. A run that never started is run again; one that
    was running ends ``failed`` (``WorkerLost``) and is retried by the bot's retry policy like
    any failure; other jobs (notifications) run again. A run still alive on this host (its
    cgroup) is killed first, so a retry never runs beside it.
    """
    assert job.id is not None
    if job.task_name != queue.RUN_TASK:
        with rt.sessions() as session:
            if queue.lock_job(session, job.id) != "doing":
                return None
            queue.retry_job(session, job.id)
            session.commit()
        return "requeued"
    workspace_id = str(job.task_kwargs["workspace_id"])
    execution_id = uuid.UUID(str(job.task_kwargs["execution_id"]))
    with log_context(workspace_id=workspace_id, execution_id=str(execution_id), job_id=job.id):
        if sandbox.kill_run(str(execution_id)):
            log.warning("killed what was left of execution %s's run", execution_id)
        with rt.sessions() as session, tenancy.bound(session, workspace_id):
            if queue.lock_job(session, job.id) != "doing":
                return None
            execution = _locked(session, execution_id)
            if execution is None or execution.job_id != job.id:
                queue.finish_job(session, job.id, "failed")
                done = "dropped"
            elif execution.status == "queued" and not execution.cancel_requested:
                queue.retry_job(session, job.id)
                done = "requeued"
            elif execution.status in ("queued", "running"):
                queue.finish_job(session, job.id, "failed")
                outcome = (ExecutionOutcome(status="cancelled") if execution.cancel_requested
                           else _failure("WorkerLost", "the worker running this execution "
                                         "stopped without finishing it"))
                _commit_final(session, execution, outcome,
                              _run_settings(rt, session, execution.bot_id))
                done = outcome.status
            else:  # the outcome was stored just before the worker was lost
                queue.finish_job(session, job.id, "succeeded")
                done = "finished"
            session.commit()
        log.warning("recovered job %s of a lost worker: %s", job.id, done)
    return done

