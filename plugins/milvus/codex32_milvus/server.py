"""The embedded Milvus server: one milvus-lite process owns the data folder, others connect to it.

milvus-lite lets only one process open a data folder ("Open local milvus failed" from a second
one), so the platform's web and worker processes never open it themselves: the first one that
needs it starts ``milvus-lite server`` under a file lock and every process talks to it over gRPC.
Nothing here knows about workspaces or collections, and nothing here opens the data folder.

Command line (for a Procfile or by hand)::

    python -m codex32_milvus.server serve --data-dir .data/milvus --port 19531
    python -m codex32_milvus.server ensure --data-dir .data/milvus --port 19531
    python -m codex32_milvus.server stop --data-dir .data/milvus
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 19531
LOCK_FILE = "codex32-server.lock"
PID_FILE = "codex32-server.pid"
LOG_FILE = "codex32-server.log"

# milvus-lite 3 is pure Python and its engine is single-writer per collection without locks of
# its own; one gRPC worker serializes requests, which costs little under the GIL anyway.
MAX_WORKERS = 1

# Detached servers are kept referenced so Popen never warns about (or reaps) a live child.
_detached: list[subprocess.Popen] = []


def server_command(data_dir: str | os.PathLike, port: int, host: str = DEFAULT_HOST) -> list[str]:
    """The argv that runs :func:`serve` in a new Python process (same interpreter)."""
    return [sys.executable, "-m", "codex32_milvus.server", "serve", "--data-dir",
            str(Path(data_dir).absolute()), "--host", host, "--port", str(int(port))]


def serve(data_dir: str | os.PathLike, port: int, host: str = DEFAULT_HOST) -> int:
    """Run ``milvus-lite server`` in the foreground until SIGTERM or SIGINT; returns its status.

    milvus-lite closes its database cleanly only on KeyboardInterrupt, so SIGTERM is turned into
    one. The process writes its pid beside the data so :func:`stop_server` can find it.
    """
    from milvus_lite.cmdline import main as milvus_lite_main

    data = Path(data_dir).absolute()
    data.mkdir(parents=True, exist_ok=True)
    pid_path = data / PID_FILE
    pid_path.write_text(f"{os.getpid()} {int(port)}")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return milvus_lite_main(["server", "--data-dir", str(data), "--host", host,
                                 "--port", str(int(port)), "--max-workers", str(MAX_WORKERS)])
    finally:
        with contextlib.suppress(FileNotFoundError):
            if pid_path.read_text().split()[0] == str(os.getpid()):
                pid_path.unlink()


def start_server(data_dir: str | os.PathLike, port: int, host: str = DEFAULT_HOST,
                 detach: bool = False) -> subprocess.Popen:
    """Start :func:`serve` as a child process logging to ``codex32-server.log`` in the data dir.

    ``detach`` puts it in its own session so it outlives the process that started it (the
    embedded default: a recycled web worker must not take the shared server down).
    """
    data = Path(data_dir).absolute()
    data.mkdir(parents=True, exist_ok=True)
    with open(data / LOG_FILE, "ab") as log:
        process = subprocess.Popen(server_command(data, port, host), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=detach, close_fds=True)
    if detach:
        _detached.append(process)
    return process


def is_listening(port: int, host: str = DEFAULT_HOST, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_ready(port: int, host: str = DEFAULT_HOST, timeout: float = 30.0,
                     process: subprocess.Popen | None = None,
                     data_dir: str | os.PathLike | None = None) -> None:
    """Poll until the server accepts connections; raise RuntimeError on timeout or early exit.

    milvus-lite opens its data folder before it binds the port, so a listening port means the
    server is ready to answer.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_listening(port, host, timeout=0.2):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited with status {process.returncode}: "
                               f"{_log_tail(data_dir)}")
        time.sleep(0.05)
    raise RuntimeError(f"milvus-lite server did not listen on {host}:{port} within {timeout:g} s: "
                       f"{_log_tail(data_dir)}")


def ensure_local_server(data_dir: str | os.PathLike, port: int, host: str = DEFAULT_HOST,
                        timeout: float = 30.0) -> str:
    """Return the URI of the embedded server for ``data_dir``, starting it if nothing listens.

    A file lock in the data folder makes concurrent callers (several workers starting at once)
    start exactly one server; the others wait for it and get the same URI.
    """
    uri = f"http://{host}:{int(port)}"
    if is_listening(port, host):
        return uri
    data = Path(data_dir).absolute()
    data.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with _exclusive_lock(data / LOCK_FILE, timeout):
        if is_listening(port, host):
            return uri
        process = None
        running = _running_server(data)
        if running is None:
            process = start_server(data, port, host, detach=True)
        elif running[1] != int(port):
            raise RuntimeError(f"the milvus data folder {data} is already served by pid "
                               f"{running[0]} on port {running[1]}, not {port}")
        # else: a starter that died while holding the lock left a server still booting.
        wait_until_ready(port, host, max(deadline - time.monotonic(), 1.0), process, data)
    return uri


def stop_server(data_dir: str | os.PathLike, timeout: float = 10.0) -> bool:
    """Stop the server that serves ``data_dir`` (found by its pid file); False if none runs."""
    running = _running_server(Path(data_dir).absolute())
    if running is None:
        return False
    pid = running[0]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: ``serve`` (foreground), ``ensure`` (start if needed, print URI), ``stop``."""
    parser = argparse.ArgumentParser(prog="python -m codex32_milvus.server")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "ensure", "stop"):
        command = commands.add_parser(name)
        command.add_argument("--data-dir", default=os.path.join(
            os.environ.get("CODEX32_DATA_DIR", ".data"), "milvus"))
        if name != "stop":
            command.add_argument("--host", default=DEFAULT_HOST)
            command.add_argument("--port", type=int, default=int(
                os.environ.get("CODEX32_MILVUS_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.data_dir, args.port, args.host)
    if args.command == "ensure":
        print(ensure_local_server(args.data_dir, args.port, args.host))
        return 0
    return 0 if stop_server(args.data_dir) else 1


@contextlib.contextmanager
def _exclusive_lock(path: Path, timeout: float) -> Iterator[None]:
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"timed out waiting for the lock {path}") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _running_server(data: Path) -> tuple[int, int] | None:
    """(pid, port) from the pid file if that process is alive and is one of our servers."""
    try:
        pid, port = (int(n) for n in (data / PID_FILE).read_text().split())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        return None
    # A stale pid file may name a recycled pid; only trust it if the command line matches.
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"codex32_milvus.server" not in cmdline:
            return None
    return pid, port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # A zombie has exited; only its parent has not reaped it yet.
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _log_tail(data_dir: str | os.PathLike | None, lines: int = 5) -> str:
    if data_dir is None:
        return "see its output"
    try:
        text = (Path(data_dir) / LOG_FILE).read_text(errors="replace")
    except OSError:
        return "no log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "empty log"


if __name__ == "__main__":
    raise SystemExit(main())
