"""Schema migrations: run Alembic as the owner role, and tell whether the schema is at head.

The release step calls :func:`upgrade`; readiness calls :func:`is_at_head`.
"""

from __future__ import annotations

import logging
import os
import time
from functools import cache
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from codex32.db.roles import ensure_group_roles

MIGRATIONS_DIR = Path(os.environ.get("CODEX32_MIGRATIONS_DIR",
                                     Path(__file__).resolve().parents[3] / "migrations"))


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the project's migrations folder, bound to ``connection``."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str | None:
    """The newest revision in the migrations folder (read once: it does not change while a
    process runs, and readiness probes ask on every call)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    return MigrationContext.configure(connection).get_current_revision()


def is_at_head(connection: Connection) -> bool:
    """True when the database's revision is the newest one."""
    return current_revision(connection) == head_revision()


# Readiness asks on every probe; Alembic would log two INFO lines each time.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


def upgrade(owner_url: str, runtime_url: str | None, revision: str = "head") -> str | None:
    """Create the group roles (and the runtime role when missing and the owner may), then
    migrate to ``revision`` as the owner. Idempotent, and safe from several processes at once
    (overlapping deploys, a retried release): they take turns, and the later ones find the
    database at head."""
    runtime = make_url(runtime_url) if runtime_url else None
    engine = create_engine(owner_url)
    try:
        with engine.begin() as connection:
            _one_release_at_a_time(connection)
            ensure_group_roles(connection, runtime.username if runtime else None,
                               runtime.password if runtime else None)
        attempt = 1
        while True:
            try:
                with engine.begin() as connection:
                    _one_release_at_a_time(connection)
                    # A table lock the migration waits for queues every later query on that
                    # table behind it: the application stalls. Waiting a bounded time and
                    # trying again (the blocker is usually a short transaction) fails the
                    # release instead, with the database as it was.
                    connection.execute(text("SELECT set_config('lock_timeout', :wait, true)"),
                                       {"wait": LOCK_TIMEOUT})
                    command.upgrade(alembic_config(connection), revision)
                    return current_revision(connection)
            except OperationalError as exc:
                if not isinstance(exc.orig, psycopg.errors.LockNotAvailable):
                    raise
                if attempt == LOCK_ATTEMPTS:
                    raise MigrationBlocked(
                        f"a migration waited {LOCK_ATTEMPTS} times {LOCK_TIMEOUT} for a table "
                        "that another transaction holds; nothing was changed: end that "
                        "transaction (pg_stat_activity) and run the release again") from exc
                log.warning("a migration waited %s for a table lock; trying again", LOCK_TIMEOUT)
                time.sleep(LOCK_RETRY_SECONDS)
                attempt += 1
    finally:
        engine.dispose()


# How long one migration attempt waits for a table lock, and how often it tries.
LOCK_TIMEOUT = "10s"
LOCK_ATTEMPTS = 3
LOCK_RETRY_SECONDS = 5.0


class MigrationBlocked(RuntimeError):
    """A migration could not take a table lock in its bounded time; nothing was changed."""


# Any constant (not embedded.PREPARE_LOCK): serializes upgrade() on one database.
MIGRATION_LOCK = 0x636F6478_3332  # "codx32"


def _one_release_at_a_time(connection: Connection) -> None:
    """Wait for any other release's transaction on this database to end (the lock is released
    with the transaction that took it)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
