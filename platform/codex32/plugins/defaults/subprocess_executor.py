"""The built-in ``subprocess`` executor: each run in a fresh, locked-down local process.

A thin plugin over :mod:`codex32.execution.sandbox`, registered through the same hook as any
third-party executor. It holds configuration only; it must not keep per-run state (one
instance serves a workspace's runs from many worker threads at once).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from codex32.execution import sandbox
from codex32.plugins import hookimpl
from codex32.plugins.errors import ConfigInvalid
from codex32.plugins.interfaces import (
    ISOLATION_LEVELS,
    ExecutionOutcome,
    ExecutionRequest,
    Executor,
    HealthResult,
)

DEFAULT_MINIMUM_ISOLATION = "process"


class SubprocessExecutor(Executor):
    """Runs bots with the sandbox's strongest isolation this host supports.

    When that level is below ``minimum_isolation`` a run is refused: it ends ``failed`` with
    error type ``IsolationUnavailable`` and the bot never starts. This is an outcome rather
    than ``ConfigInvalid`` because the configuration is fine; the host lacks the capability
    (the same config passes on a host that runs the worker as root).
    """

    id = "subprocess"
    title = "Local sandboxed subprocess"
    description = ("Runs each bot in a new process with rlimits, a clean environment and, "
                   "as root, a private root, no network and an unprivileged uid.")
    capabilities = frozenset({"python", "stdlib_only", "cancel", "resource_usage"})
    config_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "python": {
                "type": ["string", "null"], "default": None,
                "description": "Interpreter for bots (absolute path). Default: the platform's "
                               "own interpreter. Under root it must be root's alone.",
            },
            "minimum_isolation": {
                "enum": list(ISOLATION_LEVELS), "default": DEFAULT_MINIMUM_ISOLATION,
                "description": "Refuse to run bots when the host offers less than this.",
            },
            "run_as_uid": {"type": "integer", "minimum": 1, "default": sandbox.NOBODY,
                           "description": "Unprivileged uid bots run as (root hosts only)."},
            "run_as_gid": {"type": "integer", "minimum": 1, "default": sandbox.NOBODY,
                           "description": "Unprivileged gid bots run as (root hosts only)."},
            "workdir_mb": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 64,
                           "description": "Size cap of the working directory (namespace "
                                          "level, where it is a private tmpfs)."},
        },
        "additionalProperties": False,
    }

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.python: str = self.config.get("python") or sys.executable
        self.minimum_isolation: str = self.config.get("minimum_isolation",
                                                      DEFAULT_MINIMUM_ISOLATION)
        self.uid: int = int(self.config.get("run_as_uid", sandbox.NOBODY))
        self.gid: int = int(self.config.get("run_as_gid", sandbox.NOBODY))
        self.workdir_mb: int = int(self.config.get("workdir_mb", 64))
        errors: dict[str, list[str]] = {}
        if self.minimum_isolation not in ISOLATION_LEVELS:
            errors["minimum_isolation"] = [f"must be one of {', '.join(ISOLATION_LEVELS)}"]
        problem = sandbox.interpreter_problem(self.python)
        if problem:
            errors["python"] = [problem]
        if errors:
            raise ConfigInvalid("invalid subprocess executor configuration", errors)

    def _settings(self) -> sandbox.SandboxSettings:
        return sandbox.probe(self.python, self.uid, self.gid, self.workdir_mb)

    def isolation_level(self) -> str:
        """``namespace``, ``user``, ``process`` or ``none``: probed once per host and cached."""
        return self._settings().isolation

    def run(self, request: ExecutionRequest, cancel: threading.Event) -> ExecutionOutcome:
        """Run the bot once; refused (``IsolationUnavailable``) below ``minimum_isolation``."""
        level = self.isolation_level()
        if sandbox.isolation_rank(level) < sandbox.isolation_rank(self.minimum_isolation):
            return ExecutionOutcome(status="failed", error={
                "type": "IsolationUnavailable",
                "message": f"this host offers {level!r} isolation; the configuration "
                           f"requires at least {self.minimum_isolation!r}"})
        return sandbox.run_sandboxed(request, cancel, self._settings())

    def health_check(self) -> HealthResult:
        """OK when the host's isolation meets ``minimum_isolation``."""
        level = self.isolation_level()
        ok = sandbox.isolation_rank(level) >= sandbox.isolation_rank(self.minimum_isolation)
        return HealthResult(ok=ok, detail=f"isolation {level} (minimum "
                                          f"{self.minimum_isolation})")


@hookimpl
def register_executors(register):
    """Offer the subprocess executor."""
    register(SubprocessExecutor)
