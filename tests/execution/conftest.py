"""Fixtures for execution tests: real worker processes on the test database, and helpers.

Workers are started as ``python -m codex32.cli worker`` with the runtime role's URL, exactly as
the Procfile runs them, with short heartbeat, stall and scheduler intervals so the tests do
not wait for production timings. Every worker started is killed (with its process group) when
its fixture ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from codex32.runtime import activated, bootstrap
from codex32.testing.receivers import free_ports
from tests.conftest import Tenant, make_settings

FINAL = ("succeeded", "failed", "timed_out", "cancelled")
TRIVIAL = "def main(event, context):\n    return {'ok': True}\n"
SLEEPER = ("import time\n\n\ndef main(event, context):\n    print('sleeping', flush=True)\n"
           "    time.sleep(event.get('seconds', 60))\n    return 'woke'\n")


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@dataclass
class WorkerProcess:
    """One ``codex32 worker`` process and where its output goes."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def kill(self) -> None:
        """SIGKILL the worker's process group (not its bots: each runs in its own session)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def worker_env(database, data_dir: Path, **overrides: Any) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CODEX32_", "DATABASE_URL", "WORKER_", "PROMETHEUS"))}
    env.update({
        "DATABASE_URL": database.urls.runtime, "MIGRATION_DATABASE_URL": database.urls.owner,
        "CODEX32_DATA_DIR": str(data_dir), "CODEX32_ENV": "test",
        "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "j" * 40, "CODEX32_SECRETS_KEYS": "k" * 44,
        "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024",
        "CODEX32_LOAD_PLUGINS": "builtin,webhook", "LOG_JSON": "false", "LOG_LEVEL": "INFO",
        "WORKER_CONCURRENCY": "2", "WORKER_HEARTBEAT_SECONDS": "0.5",
        "WORKER_STALLED_SECONDS": "2", "WORKER_POLL_SECONDS": "0.2",
        "SCHEDULER_INTERVAL_SECONDS": "0.2", "WORKER_SHUTDOWN_GRACE_SECONDS": "5",
        "MAX_LOG_BYTES": "4096", "NOTIFICATION_MAX_ATTEMPTS": "3",
        "NOTIFICATION_RETRY_SECONDS": "0.1",
    })
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class WorkerStarter:
    """Starts ``codex32 worker`` processes (env overrides as keywords) and kills them all."""

    def __init__(self, database, folder: Path) -> None:
        self.database = database
        self.folder = folder
        self.started: list[WorkerProcess] = []
        # Its workers begin on an empty queue: jobs that earlier tests left queued with no
        # worker running (the fuzz test's runs, say) would otherwise take their slots first,
        # as happens when xdist runs this module before the modules whose workers drain them.
        with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
            connection.execute("UPDATE procrastinate_jobs SET status = 'cancelled' "
                               "WHERE status = 'todo'")

    def __call__(self, **overrides: Any) -> WorkerProcess:
        return self.several(1, **overrides)[0]

    def several(self, count: int, **overrides: Any) -> list[WorkerProcess]:
        """``count`` workers started at once (each takes about a second of start-up, spent
        side by side), returned when all of them are ready."""
        started = [self._launch(port, **overrides) for port in free_ports(count)]
        for worker in started:
            wait_for(lambda worker=worker: self._ready(worker), timeout=30, interval=0.1,
                     message="the worker to be ready")
        return started

    def _launch(self, port: int, **overrides: Any) -> WorkerProcess:
        log = self.folder / f"worker-{len(self.started)}-{port}.log"
        env = worker_env(self.database, self.folder / "data", CODEX32_WORKER_PORT=port,
                         **overrides)
        with log.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "codex32.cli", "worker"],
                                       env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        worker = WorkerProcess(process=process, port=port, log=log)
        self.started.append(worker)
        return worker

    @staticmethod
    def _ready(worker: WorkerProcess) -> bool:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited: {worker.output()[-3000:]}")
        try:
            return (worker.get("/health/ready")[0] == 200
                    and "Starting worker" in worker.output())
        except OSError:
            return False

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()


@pytest.fixture(scope="module")
def start_worker(database, tmp_path_factory) -> Iterator[WorkerStarter]:
    """Start workers that live until the end of the module."""
    starter = WorkerStarter(database, tmp_path_factory.mktemp("workers"))
    yield starter
    starter.kill_all()


@pytest.fixture()
def start_own_worker(database, tmp_path) -> Iterator[WorkerStarter]:
    """Start workers that die at the end of the test."""
    starter = WorkerStarter(database, tmp_path)
    yield starter
    starter.kill_all()


@pytest.fixture(scope="module")
def workers(start_worker) -> list[WorkerProcess]:
    """Two workers for the whole module."""
    return start_worker.several(2)


def execution(tenant: Tenant, execution_id: str) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/executions/{execution_id}")
    assert response.status_code == 200, response.json
    return response.json


def run(tenant: Tenant, bot_id: str, body: dict | None = None, **headers: str) -> dict[str, Any]:
    """POST an execution of ``bot_id``; returns the response body (asserting 202)."""
    response = tenant.call("POST", f"/api/v1/bots/{bot_id}/executions", json=body or {},
                           headers=headers)
    assert response.status_code == 202, response.json
    return response.json


def finished(tenant: Tenant, execution_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll until the execution reaches a final status; returns it."""
    def final() -> dict[str, Any] | None:
        found = execution(tenant, execution_id)
        return found if found["status"] in FINAL else None

    return wait_for(final, timeout=timeout, message=f"execution {execution_id} to finish")


def bot_with(tenant: Tenant, code: str, **settings: Any) -> dict[str, Any]:
    """A bot with ``code`` as version 1 and these execution settings."""
    return tenant.create_bot(code=code, **({"settings": settings} if settings else {}))


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (a run's argv carries its execution id)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def jobs(superuser, **where: Any) -> list[dict[str, Any]]:
    """procrastinate_jobs rows whose args match ``where`` (as strings)."""
    rows = superuser.execute("SELECT id, task_name, status::text, attempts, args "
                             "FROM procrastinate_jobs ORDER BY id").fetchall()
    return [{"id": r[0], "task_name": r[1], "status": r[2], "attempts": r[3], "args": r[4]}
            for r in rows if all(str(r[4].get(k)) == str(v) for k, v in where.items())]


def as_json(data: bytes) -> Any:
    return json.loads(data.decode())


@pytest.fixture()
def worker_runtime(database, data_dir):
    """A worker's runtime in this process (the one bootstrap), current during the test."""
    runtime = bootstrap.build(make_settings(data_dir), database.urls, "worker")
    bootstrap.start(runtime)
    with activated(runtime):
        yield runtime
    runtime.engine.dispose()
