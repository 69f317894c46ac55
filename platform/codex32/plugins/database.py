"""The platform's own PostgreSQL, lent to a plugin that keeps its data there (the pgvector store).

A plugin never gets a URL or a role of its own: it gets a connection of the process's runtime
role (neither superuser, nor BYPASSRLS, nor table owner), in a transaction bound to the workspace
the core named, through the one place that binds tenants (:mod:`codex32.db.tenancy`). Row-level
security therefore applies to every statement the plugin runs, whatever it writes in them.

Core code that wants a plugin's writes in its own transaction (chunks and their vectors committed
together) shares its session with :func:`sharing` and calls the plugin directly, in the same
thread: a plugin call made through ``codex32.plugins.calls.invoke`` runs in a pool thread and
always gets a transaction of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import tenancy

# (the session, the thread that shared it)
_shared: ContextVar[tuple[Session, int] | None] = ContextVar("codex32_shared_session",
                                                             default=None)


@contextmanager
def sharing(session: Session) -> Iterator[None]:
    """Let :func:`database_connection` calls made in this thread, in this block, join
    ``session``'s transaction (which must be bound to the workspace they name)."""
    token = _shared.set((session, threading.get_ident()))
    try:
        yield
    finally:
        _shared.reset(token)


@contextmanager
def database_connection(workspace_id: str | uuid.UUID | None) -> Iterator[Connection]:
    """A connection to the platform's database, in a transaction bound to ``workspace_id``.

    The transaction is the one shared with :func:`sharing` in this thread when its session is
    bound to the same workspace (its owner commits it); otherwise a new one, committed when the
    block ends and rolled back when it raises. With ``workspace_id`` None nothing is bound: the
    connection sees no tenant row (for health checks that read the catalogue only).
    """
    workspace = None if workspace_id is None else str(uuid.UUID(str(workspace_id)))
    shared = _shared.get()
    if (shared is not None and workspace is not None and shared[1] == threading.get_ident()
            and tenancy.current_workspace() == workspace):
        yield shared[0].connection()
        return
    session = runtime.current().sessions()
    try:
        if workspace is None:
            with session.begin():
                yield session.connection()
        else:
            with tenancy.bound(session, workspace), session.begin():
                yield session.connection()
    finally:
        session.close()
