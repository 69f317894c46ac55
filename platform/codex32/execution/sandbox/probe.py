"""Whether this host gives the isolation the policy requires: tried once per process, cached.

The probe runs a real bot at the required level and checks what it reports (its uid is one of
the run identities, it sees only its own pid namespace). The answer is cached per policy; the
web and the worker probe at start (:mod:`codex32.runtime.bootstrap`), so ``/health`` and the
plugin listing never start a process. There is no
fallback: a policy the host cannot honour makes every run fail with ``IsolationUnavailable``.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from codex32.execution.sandbox import seccomp
from codex32.execution.sandbox.interpreter import interpreter, interpreter_problem
from codex32.execution.sandbox.launch import bwrap_binary, cgroup_layout, run_sandboxed
from codex32.execution.sandbox.policy import ISOLATION_SETTING, SandboxPolicy
from codex32.plugins.interfaces import ExecutionLimits, ExecutionRequest

PROBE_CODE = """\
import os


def main(event, context):
    return {"uid": os.getuid(), "pids": [int(p) for p in os.listdir("/proc") if p.isdigit()]}
"""


@dataclass(frozen=True)
class Availability:
    """The probe's answer: ``ok`` when runs can get ``level``; ``detail`` says why not."""

    ok: bool
    level: str
    detail: str
    cgroups: bool = False

    def error(self) -> dict[str, str]:
        """The error a run gets while the level is unavailable."""
        return {"type": "IsolationUnavailable",
                "message": f"this host cannot give the required {self.level!r} isolation "
                           f"({ISOLATION_SETTING}): {self.detail}; no bot runs until it can"}


_lock = threading.Lock()
_cache: dict[SandboxPolicy, Availability] = {}


def status(found: Availability) -> dict[str, Any]:
    """The ``sandbox`` health check (web ``/health``, worker ``/health/ready``): the required
    level and whether this host gives it, as the probe ``found`` it (never probes again)."""
    result: dict[str, Any] = {"ok": found.ok, "isolation": found.level, "cgroups": found.cgroups}
    if found.ok:
        result["detail"] = found.detail
    else:
        result["error"] = found.error()["message"]
    return result


def availability(policy: SandboxPolicy) -> Availability:
    """Whether runs can get ``policy.isolation`` here (probed on first call, then cached)."""
    with _lock:
        if policy not in _cache:
            _cache[policy] = _probe(policy)
        return _cache[policy]


def _probe(policy: SandboxPolicy) -> Availability:
    level = policy.isolation

    def unavailable(why: str) -> Availability:
        return Availability(False, level, why)

    problem = interpreter_problem(policy.python)
    if problem:
        return unavailable(f"CODEX32_SANDBOX_PYTHON: {problem}")
    if policy.drops_identity and os.geteuid() != 0:
        return unavailable("the worker is not root, so runs cannot get their own uid")
    try:
        interpreter(policy.python)
        if level == "namespace":
            seccomp.compiled_filter()  # fail closed: never a namespace run without the filter
            bwrap_binary(policy)
    except (OSError, ImportError, subprocess.SubprocessError, RuntimeError) as exc:
        return unavailable(f"{type(exc).__name__}: {exc}")
    outcome = run_sandboxed(ExecutionRequest(
        execution_id=f"probe-{uuid.uuid4().hex[:12]}", workspace_id="", bot_id="",
        code=PROBE_CODE, limits=ExecutionLimits(timeout_seconds=10)), None, policy)
    if outcome.status != "succeeded" or not isinstance(outcome.result, dict):
        error = outcome.error or {}
        return unavailable(f"a test run ended {outcome.status}: {error.get('message', '')}"[:500])
    low, high = policy.uid_range
    if policy.drops_identity and not low <= outcome.result.get("uid", -1) <= high:
        return unavailable("a test run did not get its own uid")
    if level == "namespace" and not set(outcome.result.get("pids", [0])) <= {1, 2}:
        return unavailable("a test run did not get its own pid namespace")
    grouped = cgroup_layout() is not None
    return Availability(True, level, f"{level} isolation"
                        + (", a cgroup per run" if grouped else ", no cgroups (rlimits only)"),
                        cgroups=grouped)
