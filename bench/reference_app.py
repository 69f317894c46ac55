"""The bare reference for bench/run.py: Flask + psycopg, the product's SQL and nothing else.

No authentication, no schema library, no ORM, no middleware, no request log. Each request runs
the same SQL as the product's endpoint, in one transaction bound to the workspace exactly as
the product binds it, as the same runtime role (so row-level security applies alike):

``GET /bots?ws=<workspace id>``
    ``set_config('app.workspace_id', ws, true)`` then the product's list query (the columns
    of ``codex32.services.bots.LIST_COLUMNS`` plus the total as a count subquery, newest
    first, 50 rows),
    answered in the product's envelope ``{items, page, page_size, total}``.
``POST /bots?ws=<workspace id>&user=<user id>`` with ``{"name", "code"}``
    the bot row, its version 1 and the audit row in one statement (as the product writes
    them), in one transaction; 201 with the bot.

Served by ``gunicorn --config gunicorn.conf.py --pythonpath bench reference_app:app`` with the
database in ``BENCH_REFERENCE_DSN`` (a libpq URL). Each worker opens its own small pool on its
first request, after the fork.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from psycopg import errors
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

SET_TENANT = "SELECT set_config('app.workspace_id', %s, true)"
LIST_SQL = (
    "SELECT bots.id, bots.name, bots.description, bots.status, bots.owner_id, "
    "bots.current_version, bots.created_at, bots.updated_at, "
    "(SELECT count(*) FROM bots) AS total "
    "FROM bots ORDER BY bots.created_at DESC, bots.id LIMIT %s OFFSET %s"
)
# The product writes a bot, its version 1 and the audit row as one statement (codex32.db.rows).
INSERT_BOT_VERSION_AUDIT = (
    "WITH row0 AS (INSERT INTO bots (workspace_id, id, name, description, status, owner_id, "
    "current_version, settings, created_at, updated_at) "
    "VALUES (%(ws)s, %(bot)s, %(name)s, '', 'draft', %(user)s, 1, '{}', %(now)s, %(now)s)), "
    "row1 AS (INSERT INTO bot_versions (workspace_id, id, bot_id, number, code, files, message, "
    "created_by, created_at) VALUES (%(ws)s, %(version)s, %(bot)s, 1, %(code)s, '{}', "
    "'Initial version', %(user)s, %(now)s)) "
    "INSERT INTO audit_logs (workspace_id, id, actor_type, actor_id, action, resource_type, "
    "resource_id, changes, request_id, ip) "
    "VALUES (%(ws)s, %(audit)s, 'user', %(user)s, 'bot.create', 'bot', %(bot_text)s, "
    "%(changes)s, %(request)s, %(ip)s)"
)
FIELDS = ("id", "name", "description", "status", "owner_id", "current_version", "created_at",
          "updated_at")
PAGE_SIZE = 50

app = Flask("reference")
_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def pool() -> ConnectionPool:
    """This worker's pool, opened on first use (after gunicorn forked the worker)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ConnectionPool(os.environ["BENCH_REFERENCE_DSN"], min_size=1, max_size=4,
                                   open=True)
        return _pool


def _item(row: tuple) -> dict[str, Any]:
    item = dict(zip(FIELDS, row, strict=False))
    item["id"] = str(item["id"])
    item["owner_id"] = str(item["owner_id"]) if item["owner_id"] else None
    item["created_at"] = item["created_at"].isoformat()
    item["updated_at"] = item["updated_at"].isoformat()
    return item


@app.get("/bots")
def list_bots():
    workspace = request.args["ws"]
    with pool().connection() as conn, conn.transaction():
        conn.execute(SET_TENANT, (workspace,))
        rows = conn.execute(LIST_SQL, (PAGE_SIZE, 0)).fetchall()
    return jsonify({"items": [_item(row) for row in rows], "page": 1, "page_size": PAGE_SIZE,
                    "total": rows[0][-1] if rows else 0})


@app.post("/bots")
def create_bot():
    workspace, user = request.args["ws"], request.args["user"]
    body = request.get_json()
    name, code = body["name"], body["code"]
    bot_id, now = uuid.uuid4(), datetime.now(UTC)
    changes = {"name": name, "description": "", "status": "draft", "version": 1,
               "code_sha256": hashlib.sha256(code.encode()).hexdigest(),
               "code_bytes": len(code.encode())}
    try:
        with pool().connection() as conn, conn.transaction():
            conn.execute(SET_TENANT, (workspace,))
            conn.execute(INSERT_BOT_VERSION_AUDIT, {
                "ws": workspace, "bot": bot_id, "name": name, "user": user, "now": now,
                "version": uuid.uuid4(), "code": code, "audit": uuid.uuid4(),
                "bot_text": str(bot_id), "changes": Jsonb(changes),
                "request": uuid.uuid4().hex, "ip": request.remote_addr})
    except errors.UniqueViolation:
        return jsonify({"code": 409, "message": "a bot with this name exists"}), 409
    return jsonify({"id": str(bot_id), "name": name, "description": "", "status": "draft",
                    "owner_id": user, "current_version": 1, "settings": {},
                    "created_at": now.isoformat(), "updated_at": now.isoformat()}), 201
