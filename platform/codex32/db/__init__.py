"""Database access: the Flask-SQLAlchemy handle, models and the tenant-bound session.

Import ``db`` from here; models live in :mod:`codex32.db.models`.
"""

from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every Codex-32 table."""

    def column_values(self) -> dict[str, Any]:
        """The row's columns by name (what a response built from the whole row starts from)."""
        return {column.key: getattr(self, column.key)
                for column in self.__table__.columns}  # type: ignore[attr-defined]


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

__all__ = ["Base", "db"]
