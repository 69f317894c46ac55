"""The hottest statements, run on the session's driver connection instead of through SQLAlchemy.

Every authenticated request runs its authentication lookup, and every list request its page:
SQLAlchemy's execution and result layers cost about as much CPU as psycopg's own work for
such a statement. These statements run here instead, on the connection (and in the
transaction) of the request's session, from SQL compiled once per statement. What SQLAlchemy
would do on a failure is kept: a driver error is raised as SQLAlchemy's exception for it, and
a connection that died is invalidated so the pool replaces it.

Only statements whose parameters the driver adapts as they are (text, numbers, UUIDs, times;
JSON documents wrapped in ``Jsonb``) belong here: the authentication lookups, list pages and
the INSERTs of :mod:`codex32.db.rows` (the one fast write path: nothing else writes here).
Everything else goes through the session (docs/architecture.md, "Fast paths").
"""

from __future__ import annotations

from typing import Any, cast

import psycopg
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.compiler import SQLCompiler

_compiled: dict[int, tuple[Executable, str, dict[str, Any]]] = {}


def execute(session: Session | scoped_session, statement: Executable | str,
            params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``statement`` with ``params`` in the session's transaction: column names, rows."""
    if isinstance(session, scoped_session):
        session = session()
    connection = session.connection()
    if not isinstance(statement, str):
        sql, fixed = _sql(statement, connection.dialect)
        params = {**fixed, **params}
    else:
        sql = statement
    driver: psycopg.Connection = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        with driver.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:  # a statement that returns no rows
                return [], []
            return [column.name for column in cursor.description], cursor.fetchall()
    except psycopg.Error as error:
        # psycopg's own types, which SQLAlchemy's DBAPI protocols do not name.
        invalidated = connection.dialect.is_disconnect(error, driver, None)  # type: ignore[arg-type]
        if invalidated:
            connection.invalidate(error)
        raise DBAPIError.instance(sql, params, error, psycopg.Error,
                                  connection_invalidated=invalidated,
                                  dialect=connection.dialect) from error


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
