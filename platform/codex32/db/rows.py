"""Writing new rows without the ORM's unit of work.

Rows that are created whole and not changed in the same transaction (an audit entry, a new bot
with its first version) need none of the unit of work's change tracking: each becomes one Core
``INSERT`` on the session's connection, in the session's transaction, at once. Objects that are
read and then changed go through the session as usual.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.orm import Session

from codex32.db import Base

_inserts: dict[Table, Insert] = {}


def insert(session: Session, *objects: Base) -> None:
    """INSERT ``objects`` (new model instances, in order) in the session's transaction.

    The objects are not added to the session: they hold exactly what was stored, and columns
    they leave unset take their server defaults. A constraint violation raises here, not at
    commit.
    """
    connection = session.connection()
    for obj in objects:
        table: Table = obj.__table__  # type: ignore[assignment]
        statement = _inserts.get(table)
        if statement is None:
            statement = _inserts[table] = table.insert()
        state: dict[str, Any] = obj.__dict__
        connection.execute(statement, {column.key: state[column.key] for column in table.columns
                                       if column.key in state})
