"""What the validation steps share: the files, the platform's settings, what earlier steps made.

Plain data; no step logic here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codex32.execution.environments import Environment
from codex32.execution.sandbox import SandboxPolicy
from codex32.plugins.interfaces import ExecutionLimits
from codex32.services.builder.report import Finding, TestRun

MAX_OUTPUT_CHARS = 8000  # of a tool's own output kept on a step


@dataclass
class Work:
    """One validation's input and the state its steps hand on."""

    files: dict[str, str]
    workspace_id: str
    limits: ExecutionLimits
    settings: Any  # the platform's codex32.config.Settings
    policy: SandboxPolicy
    environment: Environment | None = None  # the requirements' (set by that step)
    tests: TestRun | None = None  # set by the tests step

    def python_files(self) -> dict[str, str]:
        return {path: text for path, text in sorted(self.files.items()) if path.endswith(".py")}


@dataclass(frozen=True)
class Checked:
    """What one step found, and its tool's own output (bounded)."""

    findings: list[Finding] = field(default_factory=list)
    output: str = ""


def bounded(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """The end of ``text`` (where tools put their summary), at most ``limit`` characters."""
    return text if len(text) <= limit else "[...]\n" + text[-limit:]
