"""What the builder's pipeline reports: validation steps, their findings, repair rounds.

The shared vocabulary of the builder's modules (validation produces a :class:`Validation`,
the pipeline a :class:`Build` of :class:`Round` s, conversations store them as JSON with
:func:`as_json`). Plain dataclasses: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# The validation steps, in the order they run; a step after a failed one is skipped.
STEPS = ("syntax", "lint", "security", "requirements", "contract", "tests")

Severity = Literal["error", "warning", "info"]
Source = Literal["model", "heuristics"]


@dataclass(frozen=True)
class Finding:
    """One problem a step found: ``path`` and ``line`` locate it in the generated files."""

    step: str
    message: str
    severity: Severity = "error"
    path: str | None = None
    line: int | None = None
    code: str | None = None  # the rule's id (ruff's F401, bandit's B602, ...)


@dataclass(frozen=True)
class Step:
    """One validation step: ``status`` is passed, failed or skipped (an earlier step failed)."""

    name: str
    status: Literal["passed", "failed", "skipped"]
    findings: list[Finding] = field(default_factory=list)
    duration_ms: float = 0.0
    output: str = ""  # the tool's own output, bounded (pytest's report, ruff's lines)


@dataclass(frozen=True)
class TestRun:
    """The generated tests as run in the sandbox."""

    passed: int
    failed: int
    errors: int
    skipped: int
    coverage_percent: float | None  # of bot.py's lines, when measured
    output: str = ""


@dataclass(frozen=True)
class Validation:
    """Every step of one validation; ``passed`` only when no step failed or was skipped."""

    steps: list[Step]
    tests: TestRun | None = None

    @property
    def passed(self) -> bool:
        return all(step.status == "passed" for step in self.steps)

    @property
    def findings(self) -> list[Finding]:
        return [finding for step in self.steps for finding in step.findings]


@dataclass(frozen=True)
class Round:
    """One generate-validate round: the files it produced, their validation, what changed."""

    number: int
    files: dict[str, str]
    validation: Validation
    changed: list[str] = field(default_factory=list)  # paths changed from the round before
    duration_ms: float = 0.0


@dataclass(frozen=True)
class Build:
    """A generation's outcome: the last round's files, whether they validated, every round."""

    rounds: list[Round]
    source: Source  # who wrote the files: a model through the gateway, or the heuristics
    stopped: str | None = None  # why repair gave up (rounds used up, model refused, ...)

    @property
    def files(self) -> dict[str, str]:
        return self.rounds[-1].files if self.rounds else {}  # no round: generation failed

    @property
    def passed(self) -> bool:
        return bool(self.rounds) and self.rounds[-1].validation.passed


# Progress of a long step: (event, detail), e.g. ("step", {"round": 1, "name": "lint",
# "status": "passed"}). Called from the job's thread; it must not raise.
Progress = Callable[[str, dict[str, Any]], None]


def as_json(value: Any) -> Any:
    """A report dataclass as JSON-ready dicts (``passed`` included where it is a property)."""
    if isinstance(value, Validation):
        return {**asdict(value), "passed": value.passed}
    if isinstance(value, Round):
        return {**asdict(value), "validation": as_json(value.validation)}
    if isinstance(value, Build):
        return {"rounds": [as_json(r) for r in value.rounds], "source": value.source,
                "stopped": value.stopped, "passed": value.passed}
    return asdict(value)

