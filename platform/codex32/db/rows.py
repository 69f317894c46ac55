"""Writing new rows without the ORM's unit of work.

Rows that are created whole and not changed in the same transaction (an audit entry, a new bot
with its first version) need none of the unit of work's change tracking: they are written at
once, in the session's transaction, as one Core statement: a single ``INSERT``, or for several
rows one ``INSERT`` per row chained as data-modifying ``WITH`` clauses (one round trip; foreign
keys between them are checked at the end of the statement, so a parent and its child may be
written together). The statement runs on the session's driver connection
(:mod:`codex32.db.driver`). Objects that are read and then changed go through the session as
usual. This is the one fast way to write (docs/architecture.md, "Fast paths").
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Executable, Table, bindparam, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from codex32.db import Base, driver

Shape = tuple[tuple[Table, tuple[str, ...]], ...]

_statements: dict[Shape, Executable] = {}
_upserts: dict[tuple[Table, tuple[str, ...], str, bool], Executable] = {}
_json_columns: dict[Table, frozenset[str]] = {}


def insert(session: Session, *objects: Base) -> None:
    """INSERT ``objects`` (new model instances) in one statement in the session's transaction.

    The objects are not added to the session: they hold exactly what was stored, and columns
    they leave unset take their server defaults. A constraint violation raises here, not at
    commit.
    """
    # On the driver (codex32.db.driver): the values are ones it adapts as they are (text,
    # numbers, UUIDs, times), and JSON documents wrapped for it.
    driver.execute(session, *statement(*objects))


def statement(*objects: Base) -> driver.Statement:
    """The statement :func:`insert` runs, with its parameters, to send in a
    :func:`codex32.db.driver.execute_batch` with other statements of the same step."""
    shape, params = _shape(*objects)
    key = tuple(shape)
    chained = _statements.get(key)
    if chained is None:
        chained = _statements[key] = _chained(key)
    return chained, params


def upsert(obj: Base, *, only_where: str, returning: bool = False) -> driver.Statement:
    """The statement that INSERTs ``obj``, or when a row with its primary key exists
    overwrites that row's other columns ``obj`` sets, where ``only_where`` (SQL on the
    stored row, qualified by the table's name) holds; otherwise the stored row is left as it
    is. Columns ``obj`` leaves unset keep their stored (or default) values. ``returning``:
    the statement returns the primary key of the row it wrote (no row: it left it as is)."""
    [(table, keys)], params = _shape(obj)
    key = (table, keys, only_where, returning)
    found = _upserts.get(key)
    if found is None:
        primary = [column.key for column in table.primary_key.columns]
        inserting = pg_insert(table).values(
            {name: bindparam(f"r0_{name}", type_=table.c[name].type) for name in keys})
        found = _upserts[key] = inserting.on_conflict_do_update(
            index_elements=primary,
            set_={name: inserting.excluded[name] for name in keys if name not in primary},
            where=text(only_where))
        if returning:
            found = _upserts[key] = found.returning(*table.primary_key.columns)
    return found, params


def _shape(*objects: Base) -> tuple[list[tuple[Table, tuple[str, ...]]], dict[str, Any]]:
    """Each object's table and the columns it sets, and the values as parameters."""
    shape: list[tuple[Table, tuple[str, ...]]] = []
    params: dict[str, Any] = {}
    for index, obj in enumerate(objects):
        table: Table = obj.__table__  # type: ignore[assignment]
        state: dict[str, Any] = obj.__dict__
        keys = tuple(column.key for column in table.columns if column.key in state)
        shape.append((table, keys))
        json = _json_columns.get(table)
        if json is None:
            json = _json_columns[table] = frozenset(
                column.key for column in table.columns if isinstance(column.type, JSON))
        params.update({f"r{index}_{key}": Jsonb(state[key]) if key in json else state[key]
                       for key in keys})
    return shape, params


def _chained(shape: Shape) -> Executable:
    """One INSERT per row, the earlier ones as ``WITH`` clauses of the last."""
    inserts = [table.insert().values({key: bindparam(f"r{index}_{key}", type_=table.c[key].type)
                                      for key in keys})
               for index, (table, keys) in enumerate(shape)]
    statement = inserts[-1]
    for index, earlier in enumerate(inserts[:-1]):
        statement = statement.add_cte(earlier.cte(f"row{index}"))
    return statement
