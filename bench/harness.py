"""What the benchmarks share: a throwaway migrated database, free ports, percentiles.

The database is an embedded PostgreSQL in a temporary folder, or a fresh database on the server
named by ``BENCH_DATABASE_URL`` (an admin URL: a superuser, or a role with CREATEROLE and
CREATEDB), with the owner and runtime roles the product uses (``codex32.db.embedded``) and the
schema migrated to head. :meth:`BenchDatabase.close` stops the server or drops the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from sqlalchemy.engine import make_url

from codex32.db import embedded
from codex32.db.migrate import upgrade
from codex32.db.urls import DatabaseUrls

REPO = Path(__file__).resolve().parents[1]


def libpq(url: str) -> str:
    """A libpq URL (for psycopg) from a SQLAlchemy one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class BenchDatabase:
    """A migrated database: the product's URLs, and an admin DSN on the same database."""

    urls: DatabaseUrls
    admin_dsn: str
    description: str
    _postmaster_pid: int | None = None
    _server_admin_dsn: str | None = None
    _name: str | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def server_pid(self) -> int | None:
        """The postmaster's pid when this run started the server (its CPU can be measured)."""
        return self._postmaster_pid

    @property
    def owner_dsn(self) -> str:
        return libpq(self.urls.owner)

    @property
    def runtime_dsn(self) -> str:
        return libpq(self.urls.runtime)

    def close(self) -> None:
        """Stop the embedded server this run started, or drop the database it created."""
        if self._closed:
            return
        self._closed = True
        if self._postmaster_pid is not None:
            _stop_postmaster(self._postmaster_pid)
        elif self._server_admin_dsn and self._name:
            with psycopg.connect(self._server_admin_dsn, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (self._name,))
                conn.execute(f'DROP DATABASE IF EXISTS "{self._name}"')


def start_database(folder: Path) -> BenchDatabase:
    """A fresh, migrated database (see the module docstring); the caller must close it."""
    admin = os.environ.get("BENCH_DATABASE_URL")
    if admin:
        admin = libpq(admin)
        name = f"codex32_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        embedded.prepare(admin, name)
        info = psycopg.conninfo.conninfo_to_dict(admin)
        host, port = str(info.get("host") or "127.0.0.1"), str(info.get("port") or "5432")
        if host.startswith("/"):  # a unix socket directory
            base = f"postgresql+psycopg://{{role}}@/{name}?host={quote(host)}&port={port}"
        else:
            base = f"postgresql+psycopg://{{role}}@{host}:{port}/{name}"
        database = BenchDatabase(
            urls=DatabaseUrls(runtime=base.format(role=embedded.RUNTIME),
                              owner=base.format(role=embedded.OWNER)),
            admin_dsn=psycopg.conninfo.make_conninfo(admin, dbname=name),
            description=f"database {name} on {host}:{port} (BENCH_DATABASE_URL)",
            _server_admin_dsn=admin, _name=name)
    else:
        started = embedded.start(folder, "codex32_bench")
        pid_file = folder / "postgres" / "postmaster.pid"
        database = BenchDatabase(
            urls=DatabaseUrls(runtime=started.runtime_url, owner=started.owner_url,
                              embedded=True),
            admin_dsn=libpq(started.superuser_url),
            description=f"embedded PostgreSQL in {folder} (unix socket)",
            _postmaster_pid=int(pid_file.read_text().split()[0]))
    try:
        upgrade(database.urls.owner, database.urls.runtime)
    except BaseException:
        database.close()
        raise
    return database


def sibling_database(database: BenchDatabase, suffix: str) -> BenchDatabase:
    """Another migrated database on the same server, with the same roles (so two database
    states can be measured in turns); :meth:`BenchDatabase.close` drops it."""
    admin = database._server_admin_dsn or database.admin_dsn
    name = f"{psycopg.conninfo.conninfo_to_dict(database.admin_dsn)['dbname']}_{suffix}"
    embedded.prepare(admin, name)

    def renamed(url: str) -> str:
        return make_url(url).set(database=name).render_as_string(hide_password=False)

    sibling = BenchDatabase(
        urls=DatabaseUrls(runtime=renamed(database.urls.runtime),
                          owner=renamed(database.urls.owner), embedded=database.urls.embedded),
        admin_dsn=psycopg.conninfo.make_conninfo(admin, dbname=name),
        description=f"database {name} beside the first", _server_admin_dsn=admin, _name=name)
    upgrade(sibling.urls.owner, sibling.urls.runtime)
    return sibling


def _stop_postmaster(pid: int, timeout: float = 30.0) -> None:
    """Fast shutdown of the embedded server (SIGINT to its postmaster), SIGKILL past a deadline."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``values``, interpolated."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(pct * 10) - 1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


class _MailedTokens(logging.Handler):
    """Collects the tokens the platform mails while no SMTP server is configured (the log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.tokens: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "mail_to", None):
            self.tokens[record.mail_to] = record.mail_token


def signed_up_headers(client, name: str, slug: str, email: str,
                      password: str) -> tuple[dict[str, str], str]:
    """Sign up a workspace through an in-process test client, verify its admin's address with
    the mailed token and sign in: the admin's bearer header and the workspace id."""
    mailbox = _MailedTokens()
    mail_log = logging.getLogger("codex32.services.mail")
    mail_log.addHandler(mailbox)
    try:
        signed = client.post("/api/v1/workspaces", json={
            "name": name, "slug": slug, "admin_email": email, "admin_password": password})
    finally:
        mail_log.removeHandler(mailbox)
    if signed.status_code != 202 or email not in mailbox.tokens:
        raise SystemExit(f"sign-up failed: {signed.status_code} {signed.json}")
    verified = client.post("/api/v1/auth/verify", json={"token": mailbox.tokens[email],
                                                         "password": password})
    pair = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    if verified.status_code != 200 or pair.status_code != 200:
        raise SystemExit(f"verification or sign-in failed: {verified.json} {pair.json}")
    return ({"Authorization": f"Bearer {pair.json['access_token']}"},
            verified.json["workspace"]["id"])
