"""``codex32 run`` (what ``make run`` starts): web, worker and vector store under one command on
one localhost port; a queued run finishes; one Ctrl-C stops every process, PostgreSQL included.

Runs the real command in a subprocess on a fresh data folder, as a new user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from codex32.db import embedded
from codex32.testing.receivers import free_port

CODE = "def main(event, context):\n    return {'doubled': event['n'] * 2}\n"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)
    return value


def call(port: int, method: str, path: str, body: dict | None = None,
         token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


def alive(pid: int) -> bool:
    """Running, and not an exited process waiting to be reaped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run_env(folder: Path, milvus_port: int) -> dict[str, str]:
    """A new user's shell: no database, vector store or port configured."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CODEX32_", "DATABASE_URL", "MIGRATION_DATABASE_URL",
                                  "MILVUS_URI", "WORKER_", "PROMETHEUS", "WEB_CONCURRENCY"))
           and key != "PORT"}
    env.update({"CODEX32_DATA_DIR": str(folder), "CODEX32_MILVUS_PORT": str(milvus_port),
                "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024", "LOG_JSON": "false",
                "WORKER_POLL_SECONDS": "1", "WORKER_CONCURRENCY": "2",
                "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics")})
    return env


def test_run_serves_the_whole_product_on_localhost_and_ctrl_c_stops_all_of_it():
    folder = Path(tempfile.mkdtemp(prefix="codex32-run-"))  # the server's account traverses it
    port, milvus_port = free_port(), free_port()
    log = folder / "run.log"
    with log.open("wb") as sink:
        command = subprocess.Popen(
            [sys.executable, "-m", "codex32.cli", "run", "--port", str(port), "--workers", "2"],
            env=run_env(folder, milvus_port), stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own group, as a shell gives a foreground job
    tree: list[psutil.Process] = []
    try:
        wait_for(lambda: call(port, "GET", "/health/ready")[0] == 200, 90, "web", log)
        # Known now, so that a failing assertion below still cleans up every process (honcho
        # starts each in its own session: killing the command's group does not reach them).
        tree = psutil.Process(command.pid).children(recursive=True)
        account = {"email": "me@acme.test", "password": "a long passphrase"}
        status, signed_up = call(port, "POST", "/api/v1/workspaces", {
            "name": "Acme", "admin_email": account["email"],
            "admin_password": account["password"]})
        assert status == 202, signed_up
        # Development mails go to the log: the verification token is read from there.
        mailed = wait_for(lambda: re.search(r"token: (\S+)", log.read_text()), 10,
                          "the verification mail", log)
        status, _ = call(port, "POST", "/api/v1/auth/verify",
                         {"token": mailed.group(1), "password": account["password"]})
        assert status == 200
        status, pair = call(port, "POST", "/api/v1/auth/token", account)
        assert status == 200, pair
        token = pair["access_token"]
        status, bot = call(port, "POST", "/api/v1/bots", {"name": "doubler", "code": CODE}, token)
        assert status == 201, bot
        status, queued = call(port, "POST", f"/api/v1/bots/{bot['id']}/executions",
                              {"input": {"n": 21}}, token)
        assert status == 202, queued

        def finished() -> dict | None:
            _, execution = call(port, "GET", f"/api/v1/executions/{queued['id']}", token=token)
            return execution if execution.get("status") not in ("queued", "running") else None

        execution = wait_for(finished, 60, "the worker to run the bot", log)
        assert execution["status"] == "succeeded", execution
        assert execution["result"] == {"doubled": 42}
        status, health = call(port, "GET", "/health")
        failing = {name: check for name, check in health["checks"].items() if not check["ok"]}
        assert failing == {} and status == 200

        root = psutil.Process(command.pid)
        postmaster = psutil.Process(int(
            (folder / "postgres" / "postmaster.pid").read_text().split()[0]))
        tree = [root, *root.children(recursive=True), postmaster, *postmaster.children()]
        names = " ".join(_command_lines(tree))
        assert "gunicorn" in names and "codex32.cli worker" in names
        assert "codex32-milvus serve" in names and "postgres" in names
        assert _listening(tree) == {("127.0.0.1", port), ("127.0.0.1", milvus_port)}

        os.killpg(command.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the group
        assert command.wait(timeout=30) == 130
        deadline = time.monotonic() + 15
        while (left := [p.pid for p in tree if alive(p.pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"still running: {left}\n{log.read_text()[-3000:]}"
        assert "embedded PostgreSQL stopped" in log.read_text()
    finally:
        with contextlib.suppress(psutil.Error):
            tree += psutil.Process(command.pid).children(recursive=True)
        if command.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(command.pid, signal.SIGKILL)
            command.wait(timeout=10)
        for process in tree:
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # a gunicorn master's workers too
            with contextlib.suppress(psutil.Error):
                process.kill()
        embedded.stop(folder, immediate=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_sigterm_while_the_database_is_prepared_leaves_no_postgres_running(tmp_path):
    # A process manager (or `kill`) may stop `codex32 run` before its processes start: while
    # the embedded PostgreSQL is started and migrated. That server must not outlive it.
    folder = Path(tempfile.mkdtemp(prefix="codex32-run-"))
    log = folder / "run.log"
    pid_file = folder / "postgres" / "postmaster.pid"

    def postmaster() -> int | None:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid > 0 else None  # initdb's bootstrap backend writes its pid negated

    with log.open("wb") as sink:
        command = subprocess.Popen(
            [sys.executable, "-m", "codex32.cli", "run", "--port", str(free_port())],
            env=run_env(folder, free_port()), stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = None
    try:
        server = wait_for(postmaster, 90, "the embedded server", log)
        assert "database at revision" not in log.read_text()  # still preparing
        command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=30) == 143, log.read_text()
        deadline = time.monotonic() + 15
        while alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(server), log.read_text()
        assert "embedded PostgreSQL stopped" in log.read_text()
    finally:
        if command.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(command.pid, signal.SIGKILL)
            command.wait(timeout=10)
        embedded.stop(folder, immediate=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_web_port_in_use_is_refused_at_once_before_anything_starts(tmp_path):
    # Another server (or an earlier `codex32 run`) on the port: say so in one line, without
    # starting and migrating the database and then waiting out gunicorn's five bind retries.
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "codex32.cli", "run", "--port", str(port)],
            env=run_env(tmp_path, free_port()), capture_output=True, text=True, timeout=60,
            check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (f"Error: port {port} on 127.0.0.1 is in use: stop what "
                                   "listens there, or choose another with --port")
    assert time.monotonic() - started < 15
    assert not (tmp_path / "postgres").exists()


def test_run_uses_a_vector_server_already_listening_instead_of_starting_a_second(tmp_path):
    # An earlier version started a detached milvus-lite server on first use; a second one on
    # the same folder would fail ("Open local milvus failed") and stop the whole set.
    import socket

    from codex32.config import Settings
    from codex32.supervisor import process_set

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        found = process_set(Settings(data_dir=tmp_path), 8123,
                            environ={"PATH": os.environ["PATH"],
                                     "CODEX32_MILVUS_PORT": str(port)})
    assert set(found.commands) == {"web", "worker"}
    assert found.env["MILVUS_URI"] == f"http://127.0.0.1:{port}"


def _listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    """The addresses ``processes`` listen on; one that ended meanwhile (a database backend
    whose connection closed) listens on nothing. psutil can report that as a missing
    /proc/<pid>/fd rather than NoSuchProcess."""
    found = set()
    for process in processes:
        try:
            connections = process.net_connections("inet")
        except (psutil.NoSuchProcess, FileNotFoundError):
            continue
        found |= {(conn.laddr.ip.removeprefix("::ffff:"), conn.laddr.port)  # v4 in v6
                  for conn in connections if conn.status == psutil.CONN_LISTEN}
    return found


def _command_lines(processes: list[psutil.Process]) -> list[str]:
    """The command lines of those of ``processes`` still running."""
    found = []
    for process in processes:
        try:
            found.append(" ".join(process.cmdline()))
        except (psutil.NoSuchProcess, FileNotFoundError):
            continue
    return found
