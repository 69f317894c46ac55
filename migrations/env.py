"""Alembic environment: migrate with the owner connection the caller provides (or the app's)."""

from alembic import context
from sqlalchemy import create_engine

from codex32.db import (
    db,
    models,  # noqa: F401  (registers the tables for autogenerate)
)

config = context.config
target_metadata = db.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    from flask import current_app

    url = current_app.config["CODEX32_MIGRATION_URL"]
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
