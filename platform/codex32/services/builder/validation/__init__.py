"""Validation of a generated bot: syntax, lint, security, requirements, contract, tests.

:func:`validate` runs the steps of :data:`~codex32.services.builder.report.STEPS` in order,
one module each (:mod:`.syntax`, :mod:`.lint`, :mod:`.security`, :mod:`.requirements`,
:mod:`.contract`, :mod:`.sandbox_tests`); a step with an error finding fails, and every step
after a failed one is skipped. Only the tests step runs generated code, inside the sandbox.
Called from a queue job or a thread with no transaction open: it opens its own session, only
to read the workspace's allowlist. No Flask here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from codex32 import runtime
from codex32.plugins.interfaces import ExecutionLimits
from codex32.services.builder.report import STEPS, Finding, Progress, Step, Validation
from codex32.services.builder.validation import (
    contract,
    lint,
    requirements,
    sandbox_tests,
    security,
    syntax,
)
from codex32.services.builder.validation.work import Checked, Work

__all__ = ["validate"]

log = logging.getLogger(__name__)

CHECKS: dict[str, Callable[[Work], Checked]] = {
    "syntax": syntax.check, "lint": lint.check, "security": security.check,
    "requirements": requirements.check, "contract": contract.check,
    "tests": sandbox_tests.check}


def validate(files: dict[str, str], *, workspace_id: str, limits: ExecutionLimits | None = None,
             progress: Progress | None = None) -> Validation:
    """Every step's findings on ``files`` (path -> text), the tests run in the sandbox under
    ``limits`` (the bot's; default: a run's defaults). ``progress("step", {...})`` is called
    as each step starts (status ``running``) and ends (its status, findings, duration)."""
    rt = runtime.current()
    work = Work(files=dict(files), workspace_id=str(workspace_id),
                limits=limits or ExecutionLimits(), settings=rt.settings, policy=rt.sandbox)
    steps: list[Step] = []
    failed = False
    for name in STEPS:
        if failed:
            steps.append(Step(name, "skipped"))
            _tell(progress, {"name": name, "status": "skipped"})
            continue
        _tell(progress, {"name": name, "status": "running"})
        started = time.perf_counter()
        try:
            checked = CHECKS[name](work)
        except Exception as exc:  # a host problem (a tool missing...), never the files' fault
            log.exception("validation step %s failed on the host", name)
            checked = Checked([Finding(name, f"the {name} step could not run: "
                                             f"{type(exc).__name__}: {exc}"[:500],
                                       code="internal")])
        failed = any(finding.severity == "error" for finding in checked.findings)
        step = Step(name, "failed" if failed else "passed", checked.findings,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    output=checked.output)
        steps.append(step)
        _tell(progress, {"name": name, "status": step.status, "findings": len(step.findings),
                         "duration_ms": step.duration_ms})
    return Validation(steps=steps, tests=work.tests)


def _tell(progress: Progress | None, detail: dict) -> None:
    if progress is None:
        return
    try:
        progress("step", detail)
    except Exception:  # a listener's failure must not fail the validation
        log.exception("a validation progress listener failed")
