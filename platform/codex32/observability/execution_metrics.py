"""Prometheus series of bot executions and the queue, updated by the worker process only.

Imported by the worker alone, so a web process never exports a worker heartbeat it does not
have. Labels carry a status at most: never a workspace, bot or user id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EXECUTIONS = Counter("bot_executions_total", "Executions that reached a final status",
                     ["status"])
DURATION = Histogram("bot_execution_duration_seconds", "Wall time of finished runs",
                     buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
QUEUE_DEPTH = Gauge("codex32_queue_depth", "Jobs waiting to start now",
                    multiprocess_mode="max")
QUEUE_AGE = Gauge("codex32_queue_oldest_job_age_seconds",
                  "How long the oldest waiting job has waited", multiprocess_mode="max")
RUNNING = Gauge("codex32_running_executions", "Executions running in this worker process",
                multiprocess_mode="livesum")
ACTIVE_BOTS = Gauge("active_bots", "Bots whose status is active, across workspaces",
                    multiprocess_mode="max")
HEARTBEAT = Gauge("codex32_worker_heartbeat_timestamp_seconds",
                  "When this worker's maintenance loop last ran (Unix time)",
                  multiprocess_mode="max")


def finished(status: str, duration_seconds: float | None) -> None:
    """Count an execution that reached ``status`` (after its transaction committed)."""
    EXECUTIONS.labels(status=status).inc()
    if duration_seconds is not None:
        DURATION.observe(duration_seconds)
