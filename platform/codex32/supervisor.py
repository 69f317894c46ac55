"""``codex32 run``: the whole product on one machine, under one command and one Ctrl-C.

The database is prepared once, before anything forks (the embedded PostgreSQL started, its
roles created, the migrations applied); then honcho's manager runs the Procfile's long-lived
processes, each in its own process group: ``web`` (gunicorn with gunicorn.conf.py, so the
serving model of production, on 127.0.0.1 only), ``worker``
and, unless MILVUS_URI names a vector server, ``vectors`` (the milvus-lite server of the
codex32-milvus plugin, which web and worker reach through MILVUS_URI). SIGINT or SIGTERM
stops them all (SIGTERM to each group, SIGKILL after honcho's 5 s), and so does the exit of
any one of them; then the embedded PostgreSQL is stopped too, also after a signal that came
while it was being started or migrated. For development and trials:
production runs each process on its own (docs/operations.md). No HTTP or SQL here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from honcho.manager import Manager

from codex32.config import Settings
from codex32.db import embedded
from codex32.db.migrate import upgrade
from codex32.db.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # the development server is not reachable from other machines
DEFAULT_MILVUS_PORT = 19531


@dataclass(frozen=True)
class ProcessSet:
    """What ``codex32 run`` starts: a shell command per process name, and their environment."""

    commands: dict[str, str]
    env: dict[str, str]


def process_set(settings: Settings, port: int, *, workers: int | None = None,
                reload: bool = False, environ: dict[str, str] | None = None) -> ProcessSet:
    """The Procfile's web, worker and vectors, bound to localhost, sharing one data folder."""
    environ = dict(os.environ if environ is None else environ)
    bin_dir = str(Path(sys.executable).parent)
    env = {**environ, "PORT": str(port), "CODEX32_DATA_DIR": str(settings.data_dir),
           "PATH": os.pathsep.join([bin_dir, environ.get("PATH", os.defpath)]),
           "PYTHONUNBUFFERED": "1"}  # lines reach honcho's printer as they are written
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    web = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
           "--chdir", str(ROOT), "--bind", f"{HOST}:{port}", *(["--reload"] if reload else []),
           "wsgi:app"]
    commands = {"web": web, "worker": [sys.executable, "-m", "codex32.cli", "worker"]}
    milvus = shutil.which("codex32-milvus", path=env["PATH"])
    if not environ.get("MILVUS_URI") and milvus:
        milvus_port = int(environ.get("CODEX32_MILVUS_PORT") or DEFAULT_MILVUS_PORT)
        env["MILVUS_URI"] = f"http://{HOST}:{milvus_port}"
        if _listening(milvus_port):  # a server an earlier version left running: use it
            click.echo(f"a vector server already listens on {env['MILVUS_URI']}: using it")
        else:
            commands["vectors"] = [milvus, "serve", "--data-dir",
                                   str(settings.data_dir / "milvus"), "--host", HOST,
                                   "--port", str(milvus_port)]
    # exec: the shell honcho starts becomes the process, so signals reach it directly.
    return ProcessSet(commands={name: "exec " + shlex.join(argv)
                                for name, argv in commands.items()}, env=env)


class _Stopped(BaseException):
    """A SIGINT or SIGTERM that came before honcho's manager took the signals over."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.returncode = 128 + signum


def _stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


class _Entry(dict):
    """honcho's record of one process: a start recorded after the stop began is stopped at
    once (honcho signals only the processes whose start it has already read)."""

    def __init__(self, manager: _Manager, entry: dict[str, Any]) -> None:
        super().__init__(entry)
        self._manager = manager

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if key == "pid" and self._manager.stopping:
            self._manager.stop_one(value)


class _Manager(Manager):
    """honcho's manager, stopping also the processes whose start it has not read yet: a
    SIGINT or SIGTERM in that window used to fail on the missing pid, leaving them running."""

    @property
    def stopping(self) -> bool:
        return bool(self._terminating)

    def add_process(self, name: str, cmd: str, quiet: bool = False,
                    env: dict[str, str] | None = None, cwd: str | None = None) -> Any:
        process = super().add_process(name, cmd, quiet=quiet, env=env, cwd=cwd)
        self._processes[name] = _Entry(self, self._processes[name])
        return process

    def stop_one(self, pid: int, force: bool = False) -> None:
        self._system_print(f"sending {'SIGKILL' if force else 'SIGTERM'} (pid {pid})\n")
        (self._procmgr.kill if force else self._procmgr.terminate)(pid)

    def _killall(self, force: bool = False) -> None:
        for entry in self._processes.values():
            if "returncode" not in entry and entry.get("pid") is not None:
                self.stop_one(entry["pid"], force)


def manager_for(processes: ProcessSet) -> Manager:
    """honcho's manager of ``processes``, each started from the repository root."""
    manager = _Manager()
    for name, command in processes.commands.items():
        manager.add_process(name, command, env=processes.env, cwd=str(ROOT))
    return manager


def run(settings: Settings, processes: ProcessSet) -> int:
    """Prepare the database (starting the embedded one without DATABASE_URL), then run
    ``processes`` until a signal or the first exit; stop the embedded database then, also when
    the signal came while it was being prepared (exit status 128 + the signal's number).

    The processes find the same embedded server (or DATABASE_URL) on their own, so no password
    travels through their environment.
    """
    manager = manager_for(processes)
    handlers = {signum: signal.signal(signum, _stopped)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        urls = resolve(settings)
        click.echo(f"database at revision {upgrade(urls.owner, urls.runtime)}")
        manager.loop()  # honcho's own SIGINT and SIGTERM handlers from here on
    except _Stopped as signalled:
        return signalled.returncode
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if not settings.database_url:  # the embedded server, started by resolve()
            ended = embedded.stop(settings.data_dir)
            click.echo(f"embedded PostgreSQL {'stopped' if ended else 'was not running'}")
    return manager.returncode or 0


def port_free(port: int) -> bool:
    """Whether the web can bind ``HOST:port`` (as gunicorn does, with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
