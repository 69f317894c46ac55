"""What the benchmarks share: a throwaway migrated database, free ports, percentiles, and the
product served under gunicorn (:func:`start_server`; :class:`ServingModels` serves it under
several serving models in turn, as bench/starvation_bench.py and bench/stream_bench.py do).

The database is an embedded PostgreSQL in a temporary folder, or a fresh database on the server
named by ``BENCH_DATABASE_URL`` (an admin URL: a superuser, or a role with CREATEROLE and
CREATEDB), with the owner and runtime roles the product uses (``codex32.db.embedded``) and the
schema migrated to head. :meth:`BenchDatabase.close` stops the server or drops the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
from sqlalchemy.engine import make_url

from codex32.db import embedded
from codex32.db.migrate import upgrade
from codex32.db.urls import DatabaseUrls
from codex32.testing.receivers import free_port

REPO = Path(__file__).resolve().parents[1]
RATE_LIMIT = 10_000_000  # RATE_LIMIT_PER_MINUTE of the servers: the benchmarks' load passes


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


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


# --- the product under gunicorn ------------------------------------------------------------


@dataclass
class Server:
    """A gunicorn master this run started, its port and the file its output goes to."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    known: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []
        for child in children:
            self.known.setdefault(child.pid, child)
        return children

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (gunicorn's graceful shutdown); SIGKILL the master and its workers after."""
        self.workers()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for worker in self.known.values():  # workers orphaned by a killed master
            # psutil checks the pid still names the process it saw (not a reused pid).
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                worker.kill()


def gunicorn_command(app_spec: str, *extra: str) -> list[str]:
    """``gunicorn --config gunicorn.conf.py <app>`` with the interpreter running this script."""
    script = Path(sys.executable).parent / "gunicorn"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [*base, "--config", "gunicorn.conf.py", *extra, app_spec]


def base_environment() -> dict[str, str]:
    """This process's environment without settings that would change the servers' behaviour."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("CODEX32_", "GUNICORN_")) or name in (
                "DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL", "SENTRY_DSN",
                "PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY", "PORT", "SECRET_KEY",
                "JWT_SECRET_KEY", "LOG_LEVEL", "LOG_JSON", "RATE_LIMIT_PER_MINUTE"):
            del env[name]
    return env


def start_server(name: str, command: list[str], env: dict[str, str], port: int,
                 log_path: Path, ready_path: str, stack: contextlib.ExitStack,
                 deadline: float = 90.0, cwd: Path = REPO) -> Server:
    """Start a gunicorn master (output to ``log_path``), wait until ``ready_path`` answers 200.

    ``cwd``: the checkout whose gunicorn.conf.py and wsgi.py it runs (this one by default).
    """
    log_file = stack.enter_context(log_path.open("wb"))
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file,
                               stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name=name, process=process, port=port, log_path=log_path)
    stack.callback(server.stop)
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            status, _ = http_json("GET", server.base + ready_path, timeout=2)
            if status == 200 and len(server.workers()) >= 1:
                return server
        time.sleep(0.25)
    raise BenchError(f"{name} was not ready within {deadline:g}s:\n{server.log_tail()}")


def http_json(method: str, url: str, body: Any = None, token: str | None = None,
              timeout: float = 30) -> tuple[int, Any]:
    """One HTTP request with a JSON body; the status and the parsed answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def product_environment(database: BenchDatabase, port: int, folder: Path,
                        name: str = "product", worker_class: str = "gthread") -> dict[str, str]:
    metrics = folder / f"metrics-{name}"
    return {
        **base_environment(),
        "DATABASE_URL": database.urls.runtime,
        "MIGRATION_DATABASE_URL": database.urls.owner,
        "CODEX32_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "CODEX32_SECRETS_KEYS": secrets.token_urlsafe(32),
        "CODEX32_SIGNUP_MODE": "open",
        "CODEX32_DATA_DIR": str(folder / "data"),
        "WEB_CONCURRENCY": "4",
        "GUNICORN_WORKER_CLASS": worker_class,
        "PORT": str(port),
        "RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "LOG_LEVEL": "INFO",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }


@dataclass
class ServingModels:
    """A migrated database and the product's production environment, to serve the product
    under one serving model after another (:meth:`serve`); :func:`serving_models` makes it."""

    stack: contextlib.ExitStack
    folder: Path
    database: BenchDatabase
    env: dict[str, str]
    logs: Path
    # Four workers importing the app took 95 s on 2 cores at load 13: wait longer than that.
    ready_within: float = 300.0

    def serve(self, number: int, label: str, overrides: dict[str, str],
              checkout: Path | None = None) -> Server:
        """The product under gunicorn with ``overrides`` over the environment, ready; it is
        stopped when the stack closes (or earlier with ``Server.stop``). ``checkout``: another
        checkout's code (same schema), served from there as ``gateway_bench --baseline`` does."""
        port = free_port()
        env = {**self.env, **overrides, "PORT": str(port)}
        if checkout is not None:
            env["PYTHONPATH"] = str(checkout / "platform")  # ahead of this checkout's install
        return start_server(label, gunicorn_command("wsgi:app"), env, port,
                            self.logs / f"server-{number}.log", "/health/ready", self.stack,
                            deadline=self.ready_within, cwd=checkout or REPO)


def serving_models(stack: contextlib.ExitStack, name: str, *,
                   keep_logs: bool = False) -> ServingModels:
    """A temporary folder, a migrated database (:func:`start_database`) and the servers'
    environment (4 workers, production, private URLs allowed for the local fakes), all removed
    when ``stack`` closes; the servers' logs too unless ``keep_logs``."""
    folder = Path(tempfile.mkdtemp(prefix=f"codex32-{name}-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    logs = Path(tempfile.mkdtemp(prefix=f"codex32-{name}-logs-")) if keep_logs else folder
    database = start_database(folder)
    stack.callback(database.close)
    env = {**product_environment(database, 0, folder, name), "CODEX32_ALLOW_PRIVATE_URLS": "1"}
    return ServingModels(stack=stack, folder=folder, database=database, env=env, logs=logs)


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


def interrupt(*_: object) -> None:
    """A SIGTERM handler: unwind like Ctrl-C, so every cleanup of the benchmark runs."""
    raise KeyboardInterrupt
