"""Runs one bot in a fresh, locked-down process and reports how it ended.

The parent side of the sandbox: it prepares the run's private directory, starts the launcher
(under ``unshare`` at the ``namespace`` level), feeds it the payload, enforces the wall clock
and cancellation, reads capped output and the result record, measures CPU time and peak
memory with ``wait4``, kills whatever is left and removes the directory.

It runs inside threaded workers, so it must not install signal handlers, use ``preexec_fn``,
change the process's cwd or environment, or keep mutable global state beyond the isolation
probe cache (guarded by a lock). No Flask, no database here.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import math
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from codex32.plugins.interfaces import (
    ISOLATION_LEVELS,
    ExecutionLimits,
    ExecutionOutcome,
    ExecutionRequest,
)

LAUNCHER = str(Path(__file__).with_name("launcher.py"))
RUNNER = str(Path(__file__).with_name("runner.py"))
NOBODY = 65534
POLL_SECONDS = 0.05  # how often the cancel event is looked at while a bot runs
DRAIN_SECONDS = 0.5  # how long to wait for pipes to close after the bot is gone
RECORD_OVERHEAD = 64 * 1024  # room for the record's envelope and an error traceback
DIAGNOSTICS_BYTES = 8 * 1024
MEMORY_DIR = "/dev/shm"
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8"}
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class SandboxSettings:
    """How to launch runs on this host; ``isolation`` is the level actually enforced.

    ``namespace``: root, ``unshare`` (pid, mount, ipc, net) and a private root, uid dropped.
    ``user``: root, uid/gid drop only. ``process`` and ``none``: rlimits, new session, clean
    environment, as the current user.
    """

    python: str = sys.executable
    isolation: str = "process"
    uid: int = NOBODY
    gid: int = NOBODY
    workdir_mb: int = 64
    work_root: str | None = None
    unshare: str | None = None


# --- launch ----------------------------------------------------------------------------------


def _cpu_limit(limits: ExecutionLimits) -> int:
    # Without a CPU limit the wall clock still rules; this backstop bounds any process that
    # would outlive it (each process gets its own RLIMIT_CPU budget).
    cpu = limits.cpu_seconds if limits.cpu_seconds is not None else limits.timeout_seconds + 1
    return max(1, math.ceil(cpu))


def _rlimits(limits: ExecutionLimits) -> dict[str, tuple[int, int]]:
    """(soft, hard) per resource. CPU: SIGXCPU at the soft limit, SIGKILL a second later."""
    cpu = _cpu_limit(limits)
    fixed = {"RLIMIT_AS": limits.memory_mb * 1024 * 1024, "RLIMIT_NPROC": limits.max_processes,
             "RLIMIT_FSIZE": limits.max_file_bytes, "RLIMIT_NOFILE": limits.max_open_files,
             "RLIMIT_CORE": 0}
    return {"RLIMIT_CPU": (cpu, cpu + 1), **{name: (value, value) for name, value in fixed.items()}}


def _run_tag(execution_id: str) -> str:
    """The execution id as a harmless argv word (shows up in ps, handy to find a run)."""
    kept = "".join(ch for ch in execution_id if ch.isalnum() or ch in "-_.")[:64]
    return kept or "run"


def launch_command(settings: SandboxSettings, launcher: str, network: bool, result_fd: int,
                   execution_id: str) -> list[str]:
    """The argv that starts one run: the launcher, under ``unshare`` at the namespace level."""
    python_argv = [settings.python, "-I", "-S", "-B", "-u", launcher, str(result_fd),
                   _run_tag(execution_id)]
    if settings.isolation != "namespace":
        return python_argv
    if not settings.unshare:
        raise RuntimeError("the namespace level needs the unshare binary")
    # --ipc: SysV shared memory and queues outlive processes and would be shared by every
    # bot (one uid). --kill-child: if unshare dies, the run's pid 1 dies, and the run with it.
    namespaces = ["--mount", "--pid", "--ipc", "--fork", "--kill-child"]
    if not network:
        namespaces.append("--net")
    return [settings.unshare, *namespaces, "--", *python_argv]


def _payload(request: ExecutionRequest, settings: SandboxSettings, facts: Interpreter) -> bytes:
    return marshal.dumps({
        "mode": settings.isolation, "uid": settings.uid, "gid": settings.gid,
        "executable": facts.executable, "prefix": facts.prefix,
        "workdir_mb": settings.workdir_mb, "network": request.limits.network,
        "limits": _rlimits(request.limits), "code": request.code, "event": request.event,
        "secrets": dict(request.secrets), "execution_id": request.execution_id,
        "bot_id": request.bot_id, "workspace_id": request.workspace_id,
        "max_result_bytes": request.limits.max_result_bytes,
    })


# --- supervision -----------------------------------------------------------------------------


class _Capture:
    """What one pipe delivered, kept up to ``cap`` bytes; the rest is counted and dropped."""

    __slots__ = ("cap", "data", "dropped")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = max(self.cap - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += len(chunk) - min(room, len(chunk))


class _Run:
    """One started process and its pipes, pumped until it ends or has to be stopped."""

    def __init__(self, proc: subprocess.Popen, stdin_data: bytes, result_fd: int,
                 limits: ExecutionLimits) -> None:
        self.proc = proc
        self.output = _Capture(limits.max_output_bytes)
        # stderr of unshare and of the interpreter before the launcher points the bot's
        # stderr at the log pipe: sandbox trouble, never the bot's output.
        self.diagnostics = _Capture(DIAGNOSTICS_BYTES)
        self.result = _Capture(limits.max_result_bytes + RECORD_OVERHEAD)
        self.selector = selectors.DefaultSelector()
        self.pending = memoryview(stdin_data)
        self.pidfd = _pidfd(proc.pid)
        self.result_fd = result_fd
        os.set_blocking(proc.stdin.fileno(), False)
        self.selector.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
        self._feed_stdin()  # a typical payload fits the pipe: written before the first wait
        self.selector.register(proc.stdout, selectors.EVENT_READ, self.output)
        self.selector.register(proc.stderr, selectors.EVENT_READ, self.diagnostics)
        self.selector.register(result_fd, selectors.EVENT_READ, self.result)
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ, "exit")

    def pump(self, deadline: float, cancel: threading.Event | None) -> str | None:
        """Move data until the process exits (None), ``deadline`` passes or ``cancel`` is set."""
        while True:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            now = time.monotonic()
            if now >= deadline:
                return "timed_out"
            exited = False
            for key, _ in self.selector.select(min(deadline - now, POLL_SECONDS)):
                if key.data == "exit":
                    exited = True
                elif key.data == "stdin":
                    self._feed_stdin()
                else:
                    self._read(key.fileobj, key.data)
            if exited or (self.pidfd is None and _has_exited(self.proc.pid)):
                return None

    def drain(self, seconds: float) -> None:
        """Read what is left in the pipes, for at most ``seconds`` (a stray writer may linger)."""
        if self.pidfd is not None:
            self.selector.unregister(self.pidfd)
        if not self.proc.stdin.closed:
            self._close_stdin()
        deadline = time.monotonic() + seconds
        while self.selector.get_map() and time.monotonic() < deadline:
            for key, _ in self.selector.select(max(deadline - time.monotonic(), 0)):
                self._read(key.fileobj, key.data)

    def close(self) -> None:
        self.selector.close()
        for closing in (self.proc.stdin.close, self.proc.stdout.close, self.proc.stderr.close,
                        lambda: os.close(self.result_fd)):
            with contextlib.suppress(OSError):
                closing()
        if self.pidfd is not None:
            os.close(self.pidfd)

    def _feed_stdin(self) -> None:
        if not self.pending:
            self._close_stdin()
            return
        try:
            self.pending = self.pending[os.write(self.proc.stdin.fileno(), self.pending[:1 << 16]):]
        except BlockingIOError:
            return
        except OSError:  # the process is gone before reading its payload
            self.pending = self.pending[:0]
        if not self.pending:
            self._close_stdin()

    def _close_stdin(self) -> None:
        self.selector.unregister(self.proc.stdin)
        self.proc.stdin.close()

    def _read(self, fileobj: Any, capture: _Capture) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        chunk = os.read(fd, 1 << 16)
        if chunk:
            capture.feed(chunk)
        else:
            self.selector.unregister(fileobj)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: poll with waitid instead
        return None


def _has_exited(pid: int) -> bool:
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _kill_namespace(unshare_pid: int, unshare_pidfd: int | None) -> None:
    """Kill the run's pid 1 (which ends its whole pid namespace) and let ``unshare`` reap it.

    Killing the process group at once would kill ``unshare`` before it reaps the bot, and the
    bot's CPU time would then never reach our ``wait4``. A pidfd plus a parent check make sure
    the pid we signal is still that child and not a recycled number.
    """
    try:
        with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as handle:
            children = [int(word) for word in handle.read().split()]
    except (OSError, ValueError):
        children = []
    for child in children:
        try:
            child_fd = os.pidfd_open(child)
        except (AttributeError, OSError):
            continue
        try:
            if _parent_of(child) == unshare_pid:
                signal.pidfd_send_signal(child_fd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(child_fd)
    if unshare_pidfd is not None and children:
        # unshare re-raises its child's fatal signal on itself right after reaping it.
        selector = selectors.DefaultSelector()
        with selector:
            selector.register(unshare_pidfd, selectors.EVENT_READ)
            selector.select(DRAIN_SECONDS)


# --- outcome ---------------------------------------------------------------------------------


def _logs(capture: _Capture) -> tuple[str, bool]:
    text = capture.data.decode("utf-8", "replace")
    if not capture.dropped:
        return text, False
    newline = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{newline}[... output truncated: {capture.dropped} bytes dropped]\n", True


def _parse_record(capture: _Capture, max_result_bytes: int) -> dict[str, Any] | None:
    """The runner's record as ``{"status", "result", "error"}``, or None when none was written."""
    if not capture.data and not capture.dropped:
        return None
    if capture.dropped:
        return {"status": "failed", "error": {
            "type": "ResultTooLarge",
            "message": f"the result is larger than {max_result_bytes} bytes"}}
    try:
        record = json.loads(capture.data.decode("utf-8"))
        peak = record.get("peak_kib")
        peak_kib = peak if isinstance(peak, int) and peak > 0 else None
        if record.get("ok") is True and "result" in record:
            return {"status": "succeeded", "result": record["result"], "peak_kib": peak_kib}
        error = record["error"]
        if record.get("ok") is False and all(isinstance(error.get(k), str)
                                             for k in ("type", "message")):
            return {"status": "timed_out" if record.get("timed_out") is True else "failed",
                    "peak_kib": peak_kib, "error": {
                "type": error["type"], "message": error["message"],
                "traceback": str(error.get("traceback", ""))}}
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        pass
    return {"status": "failed", "error": {
        "type": "InvalidResult", "message": "the bot's process wrote an unreadable result"}}


def _ended_without_record(status: int, cpu_seconds: float, diagnostics: str,
                          limits: ExecutionLimits) -> tuple[str, dict[str, str]]:
    number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if number is None and "sigprocmask unblock failed" in diagnostics:
        # util-linux unshare cannot re-raise its child's SIGKILL on itself; it says so on
        # stderr and exits 1 instead. That child was the bot.
        number = signal.SIGKILL
    if number == signal.SIGXCPU or cpu_seconds >= _cpu_limit(limits) - 0.05:
        return "timed_out", _cpu_error(limits)
    if number == signal.SIGKILL:
        return "failed", {"type": "Killed", "message": "the bot's process was killed "
                          "(SIGKILL), most likely for using too much memory"}
    if number is not None:
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        return "failed", {"type": "Crashed", "message": f"the bot's process died of {name}"}
    message = f"the bot's process exited with status {os.WEXITSTATUS(status)} without a result"
    last_line = diagnostics.strip().rpartition("\n")[2]
    return "failed", {"type": "NoResult",
                      "message": message + (f" ({last_line})" if last_line else "")}


def _cpu_error(limits: ExecutionLimits) -> dict[str, str]:
    return {"type": "CpuTimeExceeded",
            "message": f"the bot used more than {_cpu_limit(limits)} s of CPU time"}


def _redact(text: str, secrets: dict[str, str]) -> str:
    # A bot printing its secrets by accident must not put them in stored logs; very short
    # values are skipped, since replacing them would garble ordinary text.
    for value in sorted(secrets.values(), key=len, reverse=True):
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, REDACTED)
    return text


def _redact_error(error: dict[str, Any] | None, secrets: dict[str, str]) -> dict[str, Any] | None:
    if not error or not secrets:
        return error
    return {key: _redact(value, secrets) if isinstance(value, str) else value
            for key, value in error.items()}


# --- the run ---------------------------------------------------------------------------------


def _prepare_workdir(settings: SandboxSettings) -> str:
    where = settings.work_root
    if where is None and settings.isolation == "namespace" and os.path.isdir(MEMORY_DIR):
        # Here the host side is only an empty mount point (the bot writes to its own tmpfs),
        # and mkdir/rmdir on a tmpfs cost a tenth of a disk's journaled ones.
        where = MEMORY_DIR
    workdir = tempfile.mkdtemp(prefix="codex32-run-", dir=where)
    if settings.isolation == "namespace":
        os.mkdir(os.path.join(workdir, "root"))  # mount point of the run's private root
    elif settings.isolation == "user":
        os.chown(workdir, settings.uid, settings.gid)
    return workdir


def _remove_workdir(workdir: str) -> None:
    # At the namespace level the host side holds only the empty mount point: two rmdirs are
    # much cheaper than a tree walk. Anything else (a bot's files) takes the walk.
    try:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(os.path.join(workdir, "root"))
        os.rmdir(workdir)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)


def run_sandboxed(request: ExecutionRequest, cancel: threading.Event | None,
                  settings: SandboxSettings) -> ExecutionOutcome:
    """Run ``request`` once at ``settings.isolation`` and say how it ended.

    Never raises for anything the bot does; a host problem that stops the launch (no
    interpreter, no ``unshare``) comes back as ``failed`` with error type ``SandboxError``.
    """
    limits = request.limits
    if cancel is not None and cancel.is_set():
        return ExecutionOutcome(status="cancelled")
    try:
        facts = interpreter(settings.python)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return ExecutionOutcome(status="failed", error={
            "type": "SandboxError", "message": f"the bot interpreter does not start: {exc}"})
    try:
        payload = _payload(request, settings, facts)
    except ValueError as exc:
        return ExecutionOutcome(status="failed", error={
            "type": "InvalidEvent", "message": f"the event is not plain JSON data: {exc}"})
    started = time.monotonic()
    workdir = _prepare_workdir(settings)
    try:
        read_fd, write_fd = os.pipe()
        try:
            home = "/tmp" if settings.isolation == "namespace" else workdir
            argv = launch_command(settings, facts.launcher, limits.network, write_fd,
                                  request.execution_id)
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=workdir, env={**ENVIRONMENT, "HOME": home, "TMPDIR": home},
                close_fds=True, pass_fds=(write_fd,), start_new_session=True)
        except (OSError, RuntimeError) as exc:
            os.close(read_fd)
            return ExecutionOutcome(status="failed", error={
                "type": "SandboxError", "message": f"could not start the sandbox: {exc}"})
        finally:
            os.close(write_fd)
        run = _Run(proc, payload, read_fd, limits)
        try:
            stopped = run.pump(started + limits.timeout_seconds, cancel)
            if stopped and settings.isolation == "namespace":
                _kill_namespace(proc.pid, run.pidfd)
            # The leader is not reaped yet, so its pid still names this group and no other.
            _killpg(proc.pid)
            run.drain(DRAIN_SECONDS)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            run.close()
        duration = time.monotonic() - started
    finally:
        _remove_workdir(workdir)

    logs, truncated = _logs(run.output)
    outcome = ExecutionOutcome(
        status="failed", logs=_redact(logs, request.secrets), logs_truncated=truncated,
        duration_seconds=duration, cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_memory_bytes=usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    record = _parse_record(run.result, limits.max_result_bytes)
    if stopped == "cancelled":
        outcome.status = "cancelled"
    elif stopped == "timed_out":
        outcome.status = "timed_out"
        outcome.error = {"type": "WallTimeExceeded",
                         "message": f"the bot ran longer than {limits.timeout_seconds:g} s"}
    elif record is not None and (proc.returncode == 0 or record["status"] == "failed"):
        # A success is believed only from a clean exit: the runner exits 0 right after it.
        outcome.status = record["status"]
        outcome.result = record.get("result")
        outcome.error = record.get("error")
        if record.get("peak_kib"):
            # The bot's own high-water mark, never more than wait4's (which also counts the
            # memory of the process it was exec'd from) so a bot cannot inflate it.
            outcome.peak_memory_bytes = min(record["peak_kib"] * 1024,
                                            outcome.peak_memory_bytes)
        if outcome.status == "timed_out":  # the runner caught SIGXCPU: keep where it was
            outcome.error = {**_cpu_error(limits), "traceback": outcome.error["traceback"]}
    else:
        diagnostics = run.diagnostics.data.decode("utf-8", "replace")
        outcome.status, outcome.error = _ended_without_record(status, outcome.cpu_seconds,
                                                              diagnostics, limits)
    outcome.error = _redact_error(outcome.error, request.secrets)
    return outcome


# --- the interpreter and the isolation probe ------------------------------------------------


# Probing runs a bot, and a run asks for its interpreter's facts: hence a re-entrant lock.
_probe_lock = threading.RLock()
_probe_cache: dict[tuple[str, int, int, str | None], SandboxSettings] = {}
_interpreters: dict[str, Interpreter] = {}


@dataclass(frozen=True)
class Interpreter:
    """What a launch needs to know about a bot interpreter, learnt by running it once."""

    executable: str  # resolved path, also valid inside the private root
    prefix: str  # its installation (resolved sys.base_prefix), mirrored into the private root
    launcher: str  # the launcher's bytecode as this interpreter compiled it, or launcher.py


INSPECT_CODE = """\
import os, py_compile, sys
try:
    launcher = os.path.abspath(py_compile.compile(sys.argv[1], doraise=True))
    py_compile.compile(sys.argv[2], doraise=True)
except Exception:
    launcher = sys.argv[1]
print(os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix), launcher, sep="\\n")
"""


def interpreter(python: str) -> Interpreter:
    """Facts about ``python`` (cached per path); its bytecode for launcher and runner is written.

    Python runs a ``.pyc`` given by path: starting runs from it skips compiling the launcher
    each time (~1.5 ms, a fifth of an interpreter start), and the runner's cached bytecode
    spares the same under ``-B``. A read-only install falls back to the sources.
    """
    with _probe_lock:
        known = _interpreters.get(python)
        if known is None or not os.path.exists(known.launcher):  # e.g. __pycache__ cleaned
            done = subprocess.run([python, "-I", "-S", "-c", INSPECT_CODE, LAUNCHER, RUNNER],
                                  capture_output=True, timeout=30, env=ENVIRONMENT, check=True)
            executable, prefix, launcher = done.stdout.decode().split("\n")[:3]
            if os.geteuid() == 0 and launcher != LAUNCHER and not all(
                    _safe_from_others(item) for item in (Path(launcher), Path(launcher).parent)):
                launcher = LAUNCHER  # root would run it: only a file root alone can write
            _interpreters[python] = Interpreter(executable, prefix, launcher)
        return _interpreters[python]


def _safe_from_others(path: Path) -> bool:
    """Owned by root and, unless a symlink or a sticky directory, not writable by others.

    A root-owned sticky directory (``/tmp``) is safe: others may add entries but cannot rename
    or replace root's, and every entry on the path is checked in turn.
    """
    info = os.lstat(path)
    if info.st_uid != 0:
        return False
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
        return True
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def interpreter_problem(path: str) -> str | None:
    """Why ``path`` must not be launched as the bots' interpreter, or None when it may.

    Under root the interpreter, the launcher and the runner run with root's power until the
    uid drop, so each of them, and every directory above them, must be root's alone.
    """
    real = os.path.realpath(path)
    if not os.path.isfile(real) or not os.access(real, os.X_OK):
        return f"{path} is not an executable file"
    if os.geteuid() != 0:
        return None
    for candidate in (path, real, LAUNCHER, RUNNER):
        checked = Path(os.path.abspath(candidate))
        for item in (checked, *checked.parents):
            if not _safe_from_others(item):
                return f"{item} is not owned by root or is writable by others"
    return None


PROBE_CODE = """\
import os


def main(event, context):
    return {"uid": os.getuid(), "pid": os.getpid()}
"""


def _probe_run(settings: SandboxSettings) -> bool:
    request = ExecutionRequest(execution_id=f"probe-{uuid.uuid4().hex[:8]}", workspace_id="",
                               bot_id="", code=PROBE_CODE,
                               limits=ExecutionLimits(timeout_seconds=10))
    outcome = run_sandboxed(request, None, settings)
    if outcome.status != "succeeded" or not isinstance(outcome.result, dict):
        return False
    if settings.isolation in ("namespace", "user") and outcome.result.get("uid") != settings.uid:
        return False
    return settings.isolation != "namespace" or outcome.result.get("pid") == 1


def probe(python: str, uid: int = NOBODY, gid: int = NOBODY, workdir_mb: int = 64,
          work_root: str | None = None) -> SandboxSettings:
    """The strongest settings that work on this host, by trying each level once (cached).

    ``namespace`` and ``user`` need root; ``process`` is what an ordinary user gets. Under
    root, when neither drop works, the answer is ``none``: running bots as root is not a
    form of isolation.
    """
    key = (os.path.realpath(python), uid, gid, work_root)
    with _probe_lock:
        if key not in _probe_cache:
            base = SandboxSettings(python=python, uid=uid, gid=gid, workdir_mb=workdir_mb,
                                   work_root=work_root)
            _probe_cache[key] = _strongest(base)
        found = _probe_cache[key]
    return replace(found, python=python, workdir_mb=workdir_mb)


def _strongest(base: SandboxSettings) -> SandboxSettings:
    if interpreter_problem(base.python):
        return replace(base, isolation="none")

    def at(level: str, unshare: str | None = None) -> SandboxSettings:
        return replace(base, isolation=level, unshare=unshare)

    if os.geteuid() != 0:
        return at("process") if _probe_run(at("process")) else at("none")
    unshare = shutil.which("unshare")
    if unshare and _probe_run(at("namespace", unshare=unshare)):
        return at("namespace", unshare=unshare)
    if _probe_run(at("user")):
        return at("user")
    return at("none")


def isolation_rank(level: str) -> int:
    """Position of ``level`` in ISOLATION_LEVELS (weakest first)."""
    return ISOLATION_LEVELS.index(level)
