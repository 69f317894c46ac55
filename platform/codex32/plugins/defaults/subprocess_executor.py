"""The built-in ``subprocess`` executor: each run in a fresh, locked-down local process.

A thin plugin over :mod:`codex32.execution.sandbox`, registered through the same hook as any
third-party executor. How code runs (interpreter, identities, isolation level) is the
platform's sandbox policy (``CODEX32_SANDBOX_*``); a workspace's configuration holds only
limits it may lower. It must not keep per-run state (one instance serves a workspace's runs
from many worker threads at once).
"""

from __future__ import annotations

import threading
from typing import Any

from codex32.execution import sandbox
from codex32.plugins.api import (
    ConfigInvalid,
    ExecutionOutcome,
    ExecutionRequest,
    Executor,
    HealthResult,
    Register,
    hookimpl,
)
from codex32.runtime import find as current_runtime

DEFAULT_WORKDIR_MB = 64


class SubprocessExecutor(Executor):
    """Runs bots at the isolation level the platform requires, or not at all.

    When the host cannot give that level a run ends ``failed`` with error type
    ``IsolationUnavailable`` and the bot never starts; it never runs with less.
    """

    id = "subprocess"
    title = "Local sandboxed subprocess"
    description = ("Runs each bot in a new process with the platform's sandbox: as root, "
                   "bubblewrap namespaces, a seccomp filter, its own uid and cgroup, no network.")
    capabilities = frozenset({"python", "stdlib_only", "cancel", "resource_usage"})
    config_schema = {
        "type": "object",
        "properties": {
            "workdir_mb": {"type": "integer", "minimum": 1, "default": DEFAULT_WORKDIR_MB,
                           "description": "Size cap of the working directory /tmp (a private "
                                          "tmpfs, counted in the run's memory_mb), at most "
                                          "the platform's CODEX32_SANDBOX_MAX_WORKDIR_MB."},
        },
        "additionalProperties": False,
    }

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.workdir_mb: int = int(self.config.get("workdir_mb", DEFAULT_WORKDIR_MB))
        maximum = self.policy.max_workdir_mb
        if self.workdir_mb > maximum:
            raise ConfigInvalid("invalid subprocess executor configuration", {
                "workdir_mb": [f"must be at most {maximum} (the platform's maximum)"]})

    @property
    def policy(self) -> sandbox.SandboxPolicy:
        """The platform's sandbox policy: the current runtime's (the process's settings);
        outside any runtime (an executor built alone, as in a plugin's tests), the defaults an
        empty environment gives."""
        found = current_runtime()
        return found.sandbox if found is not None else sandbox.SandboxPolicy()

    def isolation_level(self) -> str:
        """The level the platform requires; runs get exactly this one or fail."""
        return self.policy.isolation

    def run(self, request: ExecutionRequest, cancel: threading.Event) -> ExecutionOutcome:
        """Run the bot once; ``IsolationUnavailable`` when the host cannot give the level."""
        policy = self.policy
        found = sandbox.availability(policy)
        if not found.ok:
            return ExecutionOutcome(status="failed", error=found.error())
        return sandbox.run_sandboxed(request, cancel, policy, self.workdir_mb)

    def health_check(self) -> HealthResult:
        """OK when the host gives the required isolation (probed once per process)."""
        found = sandbox.availability(self.policy)
        return HealthResult(ok=found.ok, detail=found.detail if found.ok
                            else found.error()["message"])


@hookimpl
def register_executors(register: Register) -> None:
    """Offer the subprocess executor."""
    register(SubprocessExecutor)

