"""Database access: the Flask-SQLAlchemy handle, models and the tenant-bound session.

Import ``db`` from here; models live in :mod:`codex32.db.models`.
"""

from typing import TYPE_CHECKING, Any

import flask_sqlalchemy
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    """Declarative base of every Codex-32 table."""

    def column_values(self) -> dict[str, Any]:
        """The row's columns by name (what a response built from the whole row starts from)."""
        return {column.key: getattr(self, column.key)
                for column in self.__table__.columns}


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, typed for what the code gets from it."""

    if TYPE_CHECKING:
        # A scoped_session proxies every Session method to the request's session: services
        # take a Session, and the API passes ``db.session``.
        session: Session  # type: ignore[assignment]


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

# The base class of the models: flask-sqlalchemy builds ``db.Model`` from ``Base`` at run time,
# which a type checker cannot follow.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

__all__ = ["Base", "Model", "db"]
