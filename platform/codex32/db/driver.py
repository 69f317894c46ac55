"""The hottest statements, run on the session's driver connection instead of through SQLAlchemy.

Every authenticated request runs its authentication lookup, and every list request its page:
SQLAlchemy's execution and result layers cost about as much CPU as psycopg's own work for
such a statement. These statements run here instead, on the connection (and in the
transaction) of the request's session, from SQL compiled once per statement. What SQLAlchemy
would do on a failure is kept: a driver error is raised as SQLAlchemy's exception for it, and
a connection that died is invalidated so the pool replaces it.

Only statements whose parameters the driver adapts as they are (text, numbers, UUIDs, times;
JSON documents wrapped in ``Jsonb``) belong here: the authentication lookups, list pages, the
INSERTs of :mod:`codex32.db.rows` (the one fast write path) and the LLM gateway's per-request
statements. Everything else goes through the session (docs/architecture.md, "Fast paths").
:func:`execute_batch` sends statements that need not wait for each other in one round trip
(psycopg's pipeline mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.compiler import SQLCompiler

from codex32.observability import tracing

_compiled: dict[int, tuple[Executable, str, dict[str, Any]]] = {}

Statement = tuple[Executable | str, dict[str, Any]]
Rows = tuple[list[str], list[tuple[Any, ...]]]


def execute(session: Session | scoped_session, statement: Executable | str,
            params: dict[str, Any]) -> Rows:
    """Run ``statement`` with ``params`` in the session's transaction: column names, rows."""
    return execute_batch(session, [(statement, params)])[0]


def execute_batch(session: Session | scoped_session, statements: Sequence[Statement], *,
                  commit: bool = False) -> list[Rows]:
    """Run ``statements`` in order in the session's transaction, in one round trip when
    there are several (none waits for another's rows): each one's column names and rows.

    A failing statement raises, and the statements after it are not run. ``commit``: the
    transaction's COMMIT goes in the same round trip; the caller then ends the session's
    transaction at once with ``session.commit()`` (which finds nothing left to send) and
    runs nothing in between. A batch that begins its transaction (nothing ran in it yet)
    sends its ``BEGIN`` in the same round trip (see :func:`_begun`).
    """
    if isinstance(session, scoped_session):
        session = session()
    connection = session.connection()
    driver: psycopg.Connection = connection.connection.driver_connection  # type: ignore[assignment]
    if driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE \
            and not driver.autocommit:
        return _begun(session, driver, statements, commit=commit)
    if commit:
        return execute_batch(session, [*statements, ("COMMIT", {})])[:-1]
    queries: list[tuple[str, dict[str, Any]]] = []
    for statement, params in statements:
        if isinstance(statement, str):
            queries.append((statement, params))
        else:
            sql, fixed = _sql(statement, connection.dialect)
            queries.append((sql, {**fixed, **params}))
    if not tracing.enabled():
        return _send(connection, driver, queries)
    # SQLAlchemy's events do not see these statements: their span is opened here.
    with tracing.statements([sql for sql, _ in queries]):
        return _send(connection, driver, queries)


def _begun(session: Session | scoped_session, driver: psycopg.Connection,
           statements: Sequence[Statement], *, commit: bool) -> list[Rows]:
    """``BEGIN``, ``statements`` and (``commit``) ``COMMIT`` in one round trip.

    psycopg begins a transaction by itself before the first statement, and waits for that
    ``BEGIN``'s answer even in pipeline mode: a round trip of its own. Here the connection is
    in autocommit mode for the batch, which sends its own ``BEGIN`` (a transaction like the
    one psycopg would begin: no isolation level is set on these connections).

    A batch that commits leaves the connection idle, as the pool expects it (one that fails
    is rolled back first). One that does not hands its open transaction to psycopg as if it
    had begun it itself: its autocommit flag is cleared while in the transaction, which its
    public setter refuses to do (the state is the one psycopg's own ``BEGIN`` leaves), so
    what follows (SQLAlchemy's statements, ``commit``, ``rollback``) runs in it as usual.
    Every authenticated request begins its transaction so (its lookup's batch).
    """
    ending: list[Statement] = [("COMMIT", {})] if commit else []
    driver.autocommit = True
    try:
        found = execute_batch(session, [("BEGIN", {}), *statements, *ending])
        return found[1:len(found) - len(ending)]
    finally:
        if not driver.closed:
            idle = psycopg.pq.TransactionStatus.IDLE
            if commit and driver.info.transaction_status != idle:
                driver.rollback()
            if driver.info.transaction_status == idle:
                driver.autocommit = False
            else:  # in the transaction the batch began
                driver._autocommit = False


def _send(connection: Connection, driver: psycopg.Connection,
          queries: list[tuple[str, dict[str, Any]]]) -> list[Rows]:
    sql, params = queries[0]
    try:
        if len(queries) == 1:
            with driver.cursor() as cursor:
                cursor.execute(sql, params)
                return [_rows(cursor)]
        cursors = []
        try:
            with driver.pipeline():
                for sql, params in queries:
                    cursors.append(driver.cursor())
                    cursors[-1].execute(sql, params)
            return [_rows(cursor) for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
    except psycopg.Error as error:
        # psycopg's own types, which SQLAlchemy's DBAPI protocols do not name.
        invalidated = connection.dialect.is_disconnect(error, driver, None)  # type: ignore[arg-type]
        if invalidated:
            connection.invalidate(error)
        raise DBAPIError.instance(sql, params, error, psycopg.Error,
                                  connection_invalidated=invalidated,
                                  dialect=connection.dialect) from error


def _rows(cursor: psycopg.Cursor) -> Rows:
    description = cursor.description  # built anew on every read
    if description is None:  # a statement that returns no rows
        return [], []
    return [column.name for column in description], cursor.fetchall()


def _sql(statement: Executable, dialect: Any) -> tuple[str, dict[str, Any]]:
    """The statement's SQL, and the values of the parameters it carries itself (a literal in
    a filter becomes one)."""
    entry = _compiled.get(id(statement))
    if entry is None or entry[0] is not statement:
        # A statement is a ClauseElement too, and compiles with an SQL compiler.
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))
        fixed = {name: bind.value for name, bind in compiled.binds.items()
                 if not bind.required and bind.value is not None}
        entry = _compiled[id(statement)] = (statement, str(compiled), fixed)
    return entry[1], entry[2]
