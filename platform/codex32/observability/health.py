"""Health endpoints: liveness, readiness (database answers, schema at head), dependencies.

Probes never call a paid API (provider health comes from cached results only) and never start
a process (the sandbox is probed once, at start). The checks are the current runtime's
(``codex32.runtime.current().checks``), so each app reports its own.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from marshmallow import fields
from sqlalchemy import text
from sqlalchemy.engine import Engine

from codex32 import runtime
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output
from codex32.db import db
from codex32.db.migrate import is_at_head
from codex32.observability.worker_probes import run_checks

blp = Blueprint("health", __name__, url_prefix="/health",
                description="Liveness, readiness and dependency status.")

class StatusSchema(Output):
    status = fields.String(required=True)
    checks = fields.Dict()


def database_status(engine: Engine) -> dict[str, Any]:
    """Whether the database answers and its schema is at the newest migration (the web's and
    the worker's readiness)."""
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            at_head = is_at_head(connection)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    latency = round((time.perf_counter() - started) * 1000, 2)
    result: dict[str, Any] = {"ok": at_head, "latency_ms": latency, "migrations_at_head": at_head}
    if not at_head:
        result["error"] = "migrations are behind: run `codex32 db upgrade`"
    return result


def redis_status() -> dict[str, Any] | None:
    """The rate limiter's Redis, when one is configured."""
    state = runtime.of(current_app)
    if not state.settings.redis_url:
        return None
    backend = state.limiter.backend
    failing = state.limiter.failing
    return {"ok": backend == "redis" and not failing, "backend": backend,
            **({"error": "Redis calls fail: shared state falls back"} if failing else {})}


@blp.route("/alive", methods=["GET"])
@blp.response(200, StatusSchema)
def alive():
    """200 while the process serves."""
    return {"status": "alive"}


@blp.route("/ready", methods=["GET"])
@blp.response(200, StatusSchema)
@blp.alt_response(503, schema=StatusSchema, description="not ready")
def ready():
    """200 when the database answers and migrations are at head, else 503."""
    database = database_status(db.engine)
    body = {"status": "ready" if database["ok"] else "not ready", "checks": {"database": database}}
    return body, (200 if database["ok"] else 503)


@blp.route("", methods=["GET"])
@blp.response(200, StatusSchema)
@blp.alt_response(503, schema=StatusSchema, description="a dependency is failing")
def health():
    """Per-dependency status; 503 when any configured dependency fails."""
    checks = {"database": database_status(db.engine), **run_checks(runtime.current().checks)}
    ok = all(check.get("ok") for check in checks.values())
    return {"status": "ok" if ok else "failing", "checks": checks}, (200 if ok else 503)
