"""The tests step: the generated test_bot.py runs inside the sandbox, under the bot's limits.

One sandboxed run, exactly as an execution is launched (:func:`codex32.execution.sandbox.
run_sandboxed` with the platform's policy): its code is :mod:`.harness`, its event the
generated files, its read-only environments the bot's requirements (when it has some) and
the test tools (pytest, coverage). The tests get no network even when the bot has it: they
fake every external call. Nothing generated runs outside, not even test collection. A run
that hangs is stopped by its limits and reported as such.

The counts are what the sandboxed run returns: code that means to lie about its tests could
(validation catches a model's mistakes, it does not certify hostile code; the sandbox
contains it either way).
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

from codex32.execution import environments, sandbox
from codex32.plugins.interfaces import ExecutionRequest
from codex32.services.builder.report import Finding, TestRun
from codex32.services.builder.validation.work import Checked, Work, bounded

STEP = "tests"
HARNESS = (Path(__file__).with_name("harness.py")).read_text(encoding="utf-8")
COVERAGE_TARGET = 80.0  # percent of bot.py's lines the generated tests aim at
WORKDIR_MB = 64
NO_TESTS = 5  # pytest's exit code when it collected nothing


def check(work: Work) -> Checked:
    """Run the tests in the sandbox; a finding per failure, and the :class:`TestRun`."""
    found = sandbox.availability(work.policy)
    if not found.ok:
        return Checked([Finding(STEP, f"the sandbox cannot run the tests: {found.detail}",
                                code="sandbox-unavailable")])
    tools = environments.tools(Path(work.settings.data_dir) / "environments")
    paths = ([str(work.environment.site)] if work.environment else []) + [str(tools)]
    request = ExecutionRequest(
        execution_id=f"validate-{uuid.uuid4().hex}", workspace_id=str(work.workspace_id),
        bot_id="builder-validation", code=HARNESS, event={"files": dict(work.files)},
        limits=dataclasses.replace(work.limits, network=False), environments=tuple(paths))
    outcome = sandbox.run_sandboxed(request, None, work.policy,
                                    min(WORKDIR_MB, work.policy.max_workdir_mb))
    output = bounded(outcome.logs)
    if outcome.status != "succeeded" or not isinstance(outcome.result, dict):
        return _did_not_finish(work, outcome.status, outcome.error or {}, output)
    result: dict[str, Any] = outcome.result
    run = TestRun(passed=int(result["passed"]), failed=int(result["failed"]),
                  errors=int(result["errors"]), skipped=int(result["skipped"]),
                  coverage_percent=result.get("coverage"), output=output)
    work.tests = run
    findings = [Finding(STEP, f"{item['test']}: {item['kind']}: {item['message']}",
                        path=item.get("path"), line=item.get("line"), code="test-failed")
                for item in result.get("failures") or []]
    if result.get("exit_code") == NO_TESTS or run.passed + run.failed + run.errors == 0:
        findings.append(Finding(STEP, "test_bot.py has no tests that ran", path="test_bot.py",
                                code="no-tests"))
    elif (run.failed or run.errors) and not findings:
        findings.append(Finding(STEP, f"{run.failed} failed, {run.errors} errors",
                                code="test-failed"))
    percent = run.coverage_percent
    if percent is not None and percent < COVERAGE_TARGET and not findings:
        findings.append(Finding(STEP, f"the tests cover {percent:g} % of bot.py's lines "
                                      f"(the aim is {COVERAGE_TARGET:g} %)", severity="warning",
                                path="bot.py", code="coverage"))
    return Checked(findings, output)


def _did_not_finish(work: Work, status: str, error: dict[str, Any], output: str) -> Checked:
    if status == "timed_out":
        message = (f"the tests did not finish within the bot's limits and were stopped "
                   f"({error.get('message') or status})")
        code = "timed-out"
    else:
        message = (f"the test run failed: {error.get('type', status)}: "
                   f"{error.get('message', '')}")[:1000]
        code = "run-failed"
    work.tests = TestRun(passed=0, failed=0, errors=1, skipped=0, coverage_percent=None,
                         output=output)
    return Checked([Finding(STEP, message, code=code)], output)
