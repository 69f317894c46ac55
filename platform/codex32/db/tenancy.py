"""The one place that binds a workspace to database transactions.

Row-level security policies read ``app.workspace_id``. It is set with ``set_config(…, true)``,
transaction-local, at the start of every transaction that begins while a workspace is bound,
so a pooled connection never carries one tenant's context into another's transaction. With no
workspace bound, policies see zero rows. Nothing else calls ``set_config``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from codex32.db import driver

_bound_workspace: ContextVar[str | None] = ContextVar("codex32_workspace", default=None)

_SET_TENANT = "SELECT set_config('app.workspace_id', %s, true)"
# Session.info key: (the transaction, the workspace its set_config bound), so a bind of the
# workspace the transaction already holds costs no round trip.
_BOUND_KEY = "codex32.bound_transaction"


def _mark_bound(session: Session, workspace_id: str) -> None:
    session.info[_BOUND_KEY] = (session.get_transaction(), workspace_id)


def _bound_in_transaction(session: Session) -> str | None:
    """The workspace the session's open transaction was bound to here, or None."""
    found = session.info.get(_BOUND_KEY)
    if found is None or found[0] is None or found[0] is not session.get_transaction():
        return None
    return found[1]


def current_workspace() -> str | None:
    """The workspace id bound in this context, or None."""
    return _bound_workspace.get()


def bind(session: Session | scoped_session, workspace_id: uuid.UUID | str) -> None:
    """Bind ``workspace_id`` for the rest of this context, including an open transaction."""
    value = str(uuid.UUID(str(workspace_id)))
    _bound_workspace.set(value)
    if isinstance(session, scoped_session):
        session = session()
    assert isinstance(session, Session)
    if session.in_transaction() and _bound_in_transaction(session) != value:
        session.connection().exec_driver_sql(_SET_TENANT, (value,))
        _mark_bound(session, value)


def unbind() -> None:
    """Forget the bound workspace (the next transaction sees no tenant rows)."""
    _bound_workspace.set(None)


def bind_through(session: Session | scoped_session, workspace_id: uuid.UUID | str | None,
                 lookup: str, params: dict) -> dict[str, Any] | None:
    """Run an authentication ``lookup`` and bind a workspace in the same statement.

    The workspace is ``workspace_id``, or when that is None the ``workspace_id`` column of the
    row the lookup finds (an API key names its workspace). ``lookup`` must not depend on
    row-level security (it is a SECURITY DEFINER function that filters by itself). The
    workspace is bound only when the lookup finds a row, so a failed authentication leaves
    the transaction unbound; this saves the round trip of a separate ``set_config`` on every
    authenticated request. Returns the lookup's row as a dict.
    """
    return bind_through_reading(session, workspace_id, lookup, params, ())[0]


def bind_through_reading(session: Session | scoped_session,
                         workspace_id: uuid.UUID | str | None, lookup: str, params: dict,
                         reads: Sequence[driver.Statement]
                         ) -> tuple[dict[str, Any] | None, list[driver.Rows]]:
    """:func:`bind_through`, with ``reads`` run after the lookup in its round trip: the row,
    and each read's rows.

    The reads see the workspace the lookup bound through row-level security alone (they name
    no workspace: :data:`BOUND_WORKSPACE` is the bound one in SQL); when the lookup finds no
    row nothing is bound and they find nothing. Read-only statements only: they run before the
    caller has checked what the lookup found (an expired key, a revoked token), and their rows
    are dropped when it refuses.
    """
    value = None if workspace_id is None else str(uuid.UUID(str(workspace_id)))
    source = "found.workspace_id::text" if value is None else "%(codex32_workspace)s"
    # Begins the transaction (no workspace is bound yet) and runs on the driver: the lookup
    # is part of every authenticated request.
    found = driver.execute_batch(session, [
        (f"SELECT set_config('app.workspace_id', {source}, true), found.* "
         f"FROM ({lookup}) AS found", {**params, "codex32_workspace": value}), *reads])
    keys, rows = found[0]
    if not rows:
        return None, []
    row = dict(zip(keys[1:], rows[0][1:], strict=True))
    _bound_workspace.set(value or str(row["workspace_id"]))
    _mark_bound(session() if isinstance(session, scoped_session) else session,
                value or str(row["workspace_id"]))
    return row, found[1:]


# The workspace bound in the transaction, in SQL (NULL when none is): for a read that runs in
# the round trip that binds it (:func:`bind_through_reading`).
BOUND_WORKSPACE = "NULLIF(current_setting('app.workspace_id', true), '')::uuid"


_SET_TENANT_NAMED = "SELECT set_config('app.workspace_id', %(codex32_workspace)s, true)"


def binding(workspace_id: uuid.UUID | str) -> driver.Statement:
    """The statement that binds ``workspace_id`` in the transaction it runs in, for a batch
    that begins a transaction of its own (``BEGIN`` sent in the batch)."""
    return _SET_TENANT_NAMED, {"codex32_workspace": str(uuid.UUID(str(workspace_id)))}


def execute_bound(session: Session | scoped_session, workspace_id: uuid.UUID | str,
                  statements: Sequence[driver.Statement], *,
                  commit: bool = False) -> list[driver.Rows]:
    """Bind ``workspace_id`` for the rest of this context and run ``statements`` on the
    driver (:func:`codex32.db.driver.execute_batch`, ``commit`` as there); each statement's
    rows.

    A transaction this begins is bound in the same round trip as the statements: the
    ``set_config`` goes first in their batch instead of in a round trip of its own. An open
    transaction already bound to ``workspace_id`` (say by the request's authentication) is
    not bound again.
    """
    value = str(uuid.UUID(str(workspace_id)))
    current = session() if isinstance(session, scoped_session) else session
    if current.in_transaction():
        bind(current, value)
        return driver.execute_batch(current, statements, commit=commit)
    _bound_workspace.set(None)  # the transaction begins unbound: the batch binds it first
    try:
        current.connection()
    finally:
        _bound_workspace.set(value)
    found = driver.execute_batch(
        current, [(_SET_TENANT_NAMED, {"codex32_workspace": value}), *statements],
        commit=commit)[1:]
    if not commit:
        _mark_bound(current, value)
    return found


@contextmanager
def bound(session: Session, workspace_id: uuid.UUID | str) -> Iterator[None]:
    """Run a block with ``workspace_id`` bound, restoring the previous binding after it.

    The caller ends the transaction inside the block (commit or rollback): the binding of a
    transaction that outlives the block is left as it was set.
    """
    previous = _bound_workspace.get()
    bind(session, workspace_id)
    try:
        yield
    finally:
        _bound_workspace.set(previous)


@event.listens_for(Session, "after_begin")
def _bind_new_transaction(session: Session, transaction, connection) -> None:
    workspace_id = _bound_workspace.get()
    if workspace_id is not None:
        connection.exec_driver_sql(_SET_TENANT, (workspace_id,))
        _mark_bound(session, workspace_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_binding_of_savepoint(session: Session, transaction) -> None:
    # A savepoint rolled back undoes a set_config made inside it: the next bind sends its own.
    if transaction.nested:
        session.info.pop(_BOUND_KEY, None)
