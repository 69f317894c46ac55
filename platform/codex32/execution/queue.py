"""The job queue: procrastinate on the platform's PostgreSQL, the tasks it runs, and deferral.

A job is deferred on the caller's own database connection, inside the caller's transaction, so
an execution row and its job commit or roll back together (procrastinate's ``connection=``
option, on the psycopg connection under the SQLAlchemy session). A job carries a workspace id
and row ids only; its body (:mod:`codex32.execution.worker`) opens a tenant-bound transaction
for that workspace before it reads anything. No Flask here, and no tenant data in job rows.

When tracing is on, a job also carries the W3C ``traceparent`` of the span that deferred it
(an id pair, no tenant data), and its body runs in a span under that parent: one trace shows
a request and the jobs it caused. A job without it (tracing off) runs the same way.

This module names the tasks and defers them; it never imports their bodies. The worker process
(:mod:`codex32.execution.process`) registers each body under its name (:func:`register_task`),
so the services that defer jobs and the bodies that run them both import this module, and it
imports neither.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import procrastinate
from opentelemetry.trace import SpanKind
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.errors import DomainError
from codex32.observability import tracing
from codex32.plugins.errors import ConfigInvalid

EXECUTIONS_QUEUE = "executions"
NOTIFICATIONS_QUEUE = "notifications"
BUILDER_QUEUE = "builder"
RUN_TASK = "codex32.run_execution"
NOTIFY_TASK = "codex32.deliver_notification"
BUILD_TASK = "codex32.build_bot"
KNOWLEDGE_QUEUE = "knowledge"
INDEX_DOCUMENT_TASK = "codex32.index_document"
INDEX_BOT_TASK = "codex32.index_bot"
REINDEX_TASK = "codex32.reindex"
FORGET_VECTORS_TASK = "codex32.forget_vectors"
DROP_GENERATION_TASK = "codex32.drop_generation"
ERASE_VECTORS_TASK = "codex32.erase_vectors"
KNOWLEDGE_TASKS = (INDEX_DOCUMENT_TASK, INDEX_BOT_TASK, REINDEX_TASK, FORGET_VECTORS_TASK,
                   DROP_GENERATION_TASK, ERASE_VECTORS_TASK)
MAX_KNOWLEDGE_BACKOFF_SECONDS = 300
# How often one run job may run: handed back by stopping workers, or after database failures.
MAX_RUN_ATTEMPTS = 10
MAX_NOTIFICATION_BACKOFF_SECONDS = 300

# The app holding the tasks; the worker process (codex32.execution.process) registers their
# bodies and opens it with a real connector. Nothing else opens it.
app = procrastinate.App(connector=procrastinate.PsycopgConnector())
# Deferral and cancellation run on the caller's own connection, through a connector that is
# never opened and so has no pool of its own (an opened async connector cannot do this).
_on_caller_connection = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())


class WorkerShutdown(Exception):
    """The worker is stopping: the run was stopped and its execution handed back to the queue."""


class OutcomeNotStored(Exception):
    """A run ended but its outcome could not be stored (the database failed meanwhile)."""


class RunRetry(BaseRetryStrategy):
    """When a run job is run again: at once after a worker shutdown handed it back; with
    backoff after a database failure (the next attempt settles what the failed one left);
    never for anything else. At most ``MAX_RUN_ATTEMPTS`` attempts in all."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts + 1 >= MAX_RUN_ATTEMPTS:
            return None
        if isinstance(exception, WorkerShutdown):
            return RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, OutcomeNotStored | DBAPIError):
            return RetryDecision(retry_in={"seconds": min(2 ** job.attempts, 60)})
        return None


class NotificationRetry(BaseRetryStrategy):
    """Retry a failed delivery with exponential backoff from the current runtime's
    ``NOTIFICATION_RETRY_SECONDS`` (``base_seconds`` fixes it instead), up to its
    ``NOTIFICATION_MAX_ATTEMPTS`` in all (``max_attempts`` fixes it instead).

    A configuration problem (the notifier is not installed, or refuses its settings) is not
    retried: another attempt would fail the same way.
    """

    def __init__(self, max_attempts: int | None = None,
                 base_seconds: float | None = None) -> None:
        self._max_attempts = max_attempts
        self._base_seconds = base_seconds

    @property
    def base_seconds(self) -> float:
        """The first backoff; each later one doubles it (at most 5 minutes)."""
        if self._base_seconds is not None:
            return self._base_seconds
        return runtime.current().settings.notification_retry_seconds

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets in all."""
        if self._max_attempts is not None:
            return self._max_attempts
        return runtime.current().settings.notification_max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, ConfigInvalid | DomainError):
            return None
        if job.attempts + 1 >= self.max_attempts:
            return None
        wait = min(self.base_seconds * 2 ** job.attempts, MAX_NOTIFICATION_BACKOFF_SECONDS)
        return RetryDecision(retry_in={"seconds": wait})


class KnowledgeRetry(BaseRetryStrategy):
    """Retry an indexing job with exponential backoff from ``KNOWLEDGE_RETRY_SECONDS``, up to
    ``KNOWLEDGE_MAX_ATTEMPTS`` attempts in all (the current runtime's settings).

    A refusal that another attempt would meet again (a 4xx domain error other than 429: an
    invalid request, a missing plugin) is not retried.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        settings = runtime.current().settings
        if isinstance(exception, ConfigInvalid) or (
                isinstance(exception, DomainError) and exception.status != 429
                and exception.status < 500):
            return None
        if job.attempts + 1 >= settings.knowledge_max_attempts:
            return None
        wait = min(settings.knowledge_retry_seconds * 2 ** job.attempts,
                   MAX_KNOWLEDGE_BACKOFF_SECONDS)
        return RetryDecision(retry_in={"seconds": wait})


notification_retry = NotificationRetry()
knowledge_retry = KnowledgeRetry()
# A build is not retried: its progress and outcome are on the conversation, and the user
# asks again (a second generation costs model calls the user did not ask for).
_RETRY: dict[str, BaseRetryStrategy | bool] = {
    RUN_TASK: RunRetry(), NOTIFY_TASK: notification_retry, BUILD_TASK: False,
    **dict.fromkeys(KNOWLEDGE_TASKS, knowledge_retry)}
_QUEUE = {RUN_TASK: EXECUTIONS_QUEUE, NOTIFY_TASK: NOTIFICATIONS_QUEUE,
          BUILD_TASK: BUILDER_QUEUE, **dict.fromkeys(KNOWLEDGE_TASKS, KNOWLEDGE_QUEUE)}


def register_task(name: str, body: Callable[..., None]) -> None:
    """Make ``body`` the job body of the task ``name`` (``RUN_TASK``, ``NOTIFY_TASK``,
    ``BUILD_TASK`` or one of ``KNOWLEDGE_TASKS``).

    It is called with procrastinate's job context and the job's keyword arguments, and runs on
    the task's queue with its retry strategy, in a span whose parent is the span that queued
    the job (the ``traceparent`` argument, which the body does not get).
    """
    app.task(name=name, queue=_QUEUE[name], pass_context=True,
             retry=_RETRY[name])(_traced(name, body))


def _traced(name: str, body: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(body)
    def traced(context: Any, traceparent: str | None = None, **kwargs: Any) -> None:
        if not tracing.enabled():
            return body(context, **kwargs)
        job = context.job
        attributes = {"messaging.system": "procrastinate", "messaging.operation.type": "process",
                      "messaging.destination.name": _QUEUE[name],
                      "messaging.message.id": str(job.id), "codex32.job.attempt": job.attempts,
                      **{f"codex32.{key}": str(value) for key, value in kwargs.items()
                         if key.endswith("_id")}}
        with tracing.span(f"process {name}", kind=SpanKind.CONSUMER, attributes=attributes,
                          parent=tracing.parent_from(traceparent)):
            return body(context, **kwargs)

    return traced


def _defer(deferrer: Any, task: str, **kwargs: Any) -> int:
    """Defer a job in a producer span; the job carries that span's ``traceparent``."""
    if not tracing.enabled():
        return deferrer.defer(**kwargs)
    attributes = {"messaging.system": "procrastinate", "messaging.operation.type": "send",
                  "messaging.destination.name": _QUEUE[task]}
    with tracing.span(f"send {task}", kind=SpanKind.PRODUCER, attributes=attributes) as span:
        job_id = deferrer.defer(**kwargs, **tracing.carrier())
        if span is not None:
            span.set_attribute("messaging.message.id", str(job_id))
        return job_id


# --- deferral, on the caller's transaction ---------------------------------------------------


def _driver_connection(session: Session) -> Any:
    """The psycopg connection under ``session``'s current transaction (begun if needed)."""
    return session.connection().connection.driver_connection


def defer_execution(session: Session, workspace_id: uuid.UUID | str,
                    execution_id: uuid.UUID | str, *,
                    not_before: datetime | None = None) -> int:
    """Queue the run of an execution in ``session``'s transaction; returns the job id."""
    deferrer = _on_caller_connection.configure_task(
        RUN_TASK, queue=EXECUTIONS_QUEUE, connection=_driver_connection(session),
        schedule_at=not_before)
    return _defer(deferrer, RUN_TASK, workspace_id=str(workspace_id),
                  execution_id=str(execution_id))


def defer_notification(session: Session, workspace_id: uuid.UUID | str,
                       execution_id: uuid.UUID | str, notifier: str, event: str) -> int:
    """Queue one notifier's delivery in ``session``'s transaction; returns the job id."""
    deferrer = _on_caller_connection.configure_task(
        NOTIFY_TASK, queue=NOTIFICATIONS_QUEUE, connection=_driver_connection(session))
    return _defer(deferrer, NOTIFY_TASK, workspace_id=str(workspace_id),
                  execution_id=str(execution_id), notifier=notifier, event=event)


def defer_build(session: Session, workspace_id: uuid.UUID | str,
                conversation_id: uuid.UUID | str) -> int:
    """Queue the generation of a builder conversation in ``session``'s transaction."""
    deferrer = _on_caller_connection.configure_task(
        BUILD_TASK, queue=BUILDER_QUEUE, connection=_driver_connection(session))
    return _defer(deferrer, BUILD_TASK, workspace_id=str(workspace_id),
                  conversation_id=str(conversation_id))


def defer_knowledge(session: Session, task: str, workspace_id: uuid.UUID | str,
                    **ids: Any) -> int:
    """Queue a knowledge job (one of ``KNOWLEDGE_TASKS``) in ``session``'s transaction; its
    arguments are the workspace and row ids. Returns the job id."""
    if task not in KNOWLEDGE_TASKS:
        raise ValueError(f"not a knowledge task: {task}")
    deferrer = _on_caller_connection.configure_task(
        task, queue=KNOWLEDGE_QUEUE, connection=_driver_connection(session))
    return _defer(deferrer, task, workspace_id=str(workspace_id), **ids)


def job_status(session: Session, job_id: int) -> str | None:
    """A job's status (``todo``, ``doing``, ``failed``...), None when it is gone."""
    return session.execute(text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"),
                           {"id": job_id}).scalar()


def cancel_job(session: Session, job_id: int) -> None:
    """Cancel a queued job, or ask the worker running it to abort (in ``session``'s transaction).

    The abort request reaches the worker by NOTIFY when the transaction commits, and by its
    periodic poll otherwise.
    """
    _on_caller_connection.job_manager.cancel_job_by_id(
        job_id, abort=True, connection=_driver_connection(session))


# --- recovery, on the caller's transaction ---------------------------------------------------


def lock_job(session: Session, job_id: int) -> str | None:
    """Lock a job row for this transaction and return its status (None when it is gone)."""
    return session.execute(text("SELECT status::text FROM procrastinate_jobs WHERE id = :id "
                                "FOR UPDATE"), {"id": job_id}).scalar()


def finish_job(session: Session, job_id: int, status: str) -> None:
    """End a job of a lost worker as ``succeeded``, ``failed`` or ``aborted``."""
    session.execute(text("SELECT procrastinate_finish_job_v1(:id, CAST(:status AS "
                         "procrastinate_job_status), false)"), {"id": job_id, "status": status})


def retry_job(session: Session, job_id: int) -> None:
    """Hand a job of a lost worker back to the queue, to run again now."""
    session.execute(text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"),
                    {"id": job_id})


# --- what the gauges show --------------------------------------------------------------------


def backlog(session: Session) -> tuple[int, float]:
    """How many jobs wait to start now, and how long (seconds) the oldest of them has waited."""
    row = session.execute(text("""
        SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(ready.since)), 0)
          FROM procrastinate_jobs job
          CROSS JOIN LATERAL (
              SELECT GREATEST(job.scheduled_at, max(event.at)) AS since
                FROM procrastinate_events event
               WHERE event.job_id = job.id
                 AND event.type IN ('deferred', 'deferred_for_retry', 'retried')
          ) ready
         WHERE job.status = 'todo' AND (job.scheduled_at IS NULL OR job.scheduled_at <= now())
    """)).one()
    return int(row[0]), max(float(row[1]), 0.0)
