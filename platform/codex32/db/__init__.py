"""Database access: the Flask-SQLAlchemy handle, models and the tenant-bound session.

Import ``db`` from here; models live in :mod:`codex32.db.models`.
"""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every Codex-32 table."""


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

__all__ = ["Base", "db"]
