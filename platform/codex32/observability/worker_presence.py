"""/health's ``worker`` check: runs are waiting and no worker is there to take them.

A web process cannot see workers directly; they leave two traces in the queue's tables: jobs
waiting to start (``procrastinate_jobs``) and each worker's heartbeat
(``procrastinate_workers.last_heartbeat``, every WORKER_HEARTBEAT_SECONDS). The check fails when
a job has waited longer than WORKER_STALLED_SECONDS and no worker sent a heartbeat within that
time either; an empty queue is healthy with or without workers. Reads platform tables only,
never a workspace's rows.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import text
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import db
from codex32.execution import queue

MISSING = ("runs are waiting and no worker is running: start `codex32 worker` "
           "(`make run` starts one with the web)")


def worker_status() -> dict[str, Any]:
    """``ok`` unless jobs wait longer than the stall timeout with no recent worker heartbeat."""
    threshold = runtime.of(current_app).settings.worker_stalled_seconds
    with Session(db.engine) as session:
        waiting, oldest = queue.backlog(session)
        heartbeat_age = session.execute(text(
            "SELECT EXTRACT(EPOCH FROM now() - max(last_heartbeat)) FROM procrastinate_workers"
        )).scalar()
    recent = heartbeat_age is not None and float(heartbeat_age) <= threshold
    ok = recent or oldest <= threshold
    result: dict[str, Any] = {
        "ok": ok, "waiting_jobs": waiting, "oldest_wait_seconds": round(oldest, 1),
        "last_heartbeat_seconds_ago": (round(float(heartbeat_age), 1)
                                       if heartbeat_age is not None else None)}
    if not ok:
        result["error"] = MISSING
    return result
