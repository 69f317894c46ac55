"""The worker process (``codex32 worker``): procrastinate's worker plus a maintenance loop.

Start-up builds the worker's runtime with the one bootstrap (:mod:`codex32.runtime.bootstrap`):
it connects as the runtime role (DATABASE_URL) and refuses one that bypasses row-level
security, loads the plugins, probes the sandbox once and runs the plugins' ``startup`` hooks.
The runtime lives on this worker (procrastinate's job context, and current while it runs);
then it runs, on one event loop:

- procrastinate's worker: ``WORKER_CONCURRENCY`` jobs at once (each in a thread), woken by
  LISTEN/NOTIFY when a job is queued or an abort is asked (polling is only the fallback), a
  heartbeat every ``WORKER_HEARTBEAT_SECONDS``, and on SIGTERM/SIGINT a graceful stop: no new
  jobs, running ones get ``WORKER_SHUTDOWN_GRACE_SECONDS`` to finish, then are stopped and
  handed back to the queue;
- the maintenance loop, every ``SCHEDULER_INTERVAL_SECONDS``: settle the jobs of workers whose
  heartbeat is older than ``WORKER_STALLED_SECONDS`` (:func:`codex32.execution.worker.recover`),
  fire due schedule ticks, settle knowledge left unfinished (documents whose indexing job
  vanished, stalled index builds), sweep expired OIDC sign-ins, settle LLM calls whose
  process ended before recording them (:func:`codex32.execution.sweeps.stale_llm_calls`),
  refresh the queue gauges and
  this worker's heartbeat gauge; and while a pass over the workspaces' knowledge indexes is
  under way (one starts with the worker, then every hour), check a batch of them against
  the operator's settings (:func:`codex32.execution.sweeps.knowledge_placement`);
- with ``CODEX32_WORKER_PORT``, the probe and metrics server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import procrastinate
from sqlalchemy import text

from codex32.config import Settings
from codex32.db.urls import DatabaseUrls, libpq_url
from codex32.execution import (
    builder_jobs,
    knowledge,
    notifications,
    queue,
    scheduler,
    sweeps,
    worker,
)
from codex32.observability import execution_metrics as metrics
from codex32.observability import tracing
from codex32.runtime import Runtime, activated, bootstrap, heap

log = logging.getLogger(__name__)

ABORT_POLL_SECONDS = 1.0  # fallback when an abort NOTIFY was missed

# The job bodies this process runs, under the names the services defer jobs by (the queue
# module names the tasks and never imports their bodies).
queue.register_task(queue.RUN_TASK, worker.run_execution)
queue.register_task(queue.NOTIFY_TASK, notifications.deliver_notification)
queue.register_task(queue.BUILD_TASK, builder_jobs.build_bot)
for _task, _body in knowledge.BODIES.items():
    queue.register_task(_task, _body)


def run(settings: Settings, urls: DatabaseUrls) -> None:
    """Run the worker until SIGTERM or SIGINT (the Procfile's ``worker`` process)."""
    runtime = bootstrap.build(settings, urls, "worker")
    bootstrap.start(runtime)
    heap.freeze()  # what the worker loaded stays out of full collections (runtime.heap)
    if settings.worker_port:
        # Only with a probe port: health.py is the web's /health blueprint (flask-smorest,
        # about a quarter of a second to import), which the worker needs for nothing else.
        from codex32.observability import health, worker_probes

        # Not ready while the host cannot give the required isolation: no run would succeed.
        worker_probes.serve(settings.worker_port, {
            "database": lambda: health.database_status(runtime.engine),
            "sandbox": runtime.checks["sandbox"]}, metrics_token=settings.metrics_token)
    try:
        with activated(runtime):  # the event loop's tasks and the jobs' threads inherit it
            asyncio.run(_serve(runtime, urls))
    finally:
        runtime.instances.clear()
        runtime.engine.dispose()
        tracing.shutdown()  # sends the spans still buffered


async def _serve(runtime: Runtime, urls: DatabaseUrls) -> None:
    settings = runtime.settings
    concurrency = settings.worker_concurrency
    # Sync jobs and the maintenance loop's database work run in the default executor.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency + 4, thread_name_prefix="codex32-job"))
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(urls.runtime), min_size=2, max_size=concurrency + 4,
        kwargs={"application_name": "codex32-worker"})
    name = f"{socket.gethostname()}-{os.getpid()}"
    with queue.app.replace_connector(connector) as app:
        async with app.open_async():
            maintenance = asyncio.create_task(_maintain(runtime, app), name="maintenance")
            log.info("worker %s starting with concurrency %d", name, concurrency)
            try:
                await app.run_worker_async(
                    name=name, concurrency=concurrency, listen_notify=True,
                    fetch_job_polling_interval=settings.worker_poll_seconds,
                    abort_job_polling_interval=ABORT_POLL_SECONDS,
                    shutdown_graceful_timeout=settings.worker_shutdown_grace_seconds,
                    update_heartbeat_interval=settings.worker_heartbeat_seconds,
                    stalled_worker_timeout=settings.worker_stalled_seconds,
                    delete_jobs="successful", additional_context={"runtime": runtime})
            finally:
                maintenance.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await maintenance
    log.info("worker %s stopped", name)


async def _maintain(runtime: Runtime, app: procrastinate.App) -> None:
    """Every interval: recover lost workers' jobs, fire due ticks, settle stale knowledge,
    check a batch of knowledge indexes while a pass over them is under way (one starts with
    the worker, then hourly), sweep expired OIDC sign-ins, settle LLM calls a process left
    pending, refresh the gauges."""
    settings = runtime.settings
    ticks = 0
    # The knowledge pass: at every start, then every KNOWLEDGE_PASS_SECONDS.
    knowledge_from: uuid.UUID | None = sweeps.FIRST_WORKSPACE
    knowledge_started = time.monotonic()
    while True:
        metrics.HEARTBEAT.set(time.time())
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=settings.worker_stalled_seconds)
            for job in stalled:
                await asyncio.to_thread(worker.recover, runtime, job)
            if stalled:
                await app.job_manager.prune_stalled_workers(settings.worker_stalled_seconds)
            await asyncio.to_thread(scheduler.fire_due, runtime.sessions)
            await asyncio.to_thread(knowledge.settle_stale)
            if knowledge_from is None and (time.monotonic() - knowledge_started
                                           >= sweeps.KNOWLEDGE_PASS_SECONDS):
                knowledge_from, knowledge_started = sweeps.FIRST_WORKSPACE, time.monotonic()
            if knowledge_from is not None:
                knowledge_from = await asyncio.to_thread(
                    sweeps.knowledge_placement, runtime.sessions, knowledge_from)
            await asyncio.to_thread(sweeps.expired_oidc_sign_ins, runtime.sessions)
            await asyncio.to_thread(sweeps.stale_llm_calls, runtime.sessions)
            await asyncio.to_thread(_refresh_gauges, runtime, ticks % 12 == 0)
        except Exception:
            log.exception("worker maintenance failed; trying again next interval")
        ticks += 1
        await asyncio.sleep(settings.scheduler_interval_seconds)


def _refresh_gauges(runtime: Runtime, with_bots: bool) -> None:
    with runtime.sessions() as session:
        depth, age = queue.backlog(session)
        metrics.QUEUE_DEPTH.set(depth)
        metrics.QUEUE_AGE.set(age)
        if with_bots:
            metrics.ACTIVE_BOTS.set(
                session.execute(text("SELECT count_active_bots()")).scalar_one())
