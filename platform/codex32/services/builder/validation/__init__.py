"""PROVISIONAL validation (builder-generate's stand-in until builder-validate's is merged).

The merge takes builder-validate's version of this file whole. This one runs two of the
contract's steps, ``syntax`` (every .py file compiles, config.yaml is a YAML mapping) and
``contract`` (bot.py defines ``main(event, context)``, test_bot.py imports bot and has a test);
it runs no lint, no security scan, no requirements check and no tests in the sandbox.
"""

from __future__ import annotations

import ast
import time
from typing import Literal

import yaml

from codex32.errors import Invalid
from codex32.plugins.interfaces import ExecutionLimits
from codex32.services.builder.report import Finding, Progress, Step, Validation
from codex32.services.code import check_code

PROVISIONAL = True  # builder-validate's module has no such flag: tests read it


def validate(files: dict[str, str], *, workspace_id: str,
             limits: ExecutionLimits | None = None,
             progress: Progress | None = None) -> Validation:
    """Check ``files`` step by step; a step after a failed one is skipped."""
    steps: list[Step] = []
    for name, check in (("syntax", _syntax), ("contract", _contract)):
        if steps and steps[-1].status != "passed":
            steps.append(Step(name, "skipped"))
            continue
        started = time.monotonic()
        findings = check(files)
        status: Literal["passed", "failed"] = (
            "failed" if any(f.severity == "error" for f in findings) else "passed")
        steps.append(Step(name, status, findings, (time.monotonic() - started) * 1000))
        if progress is not None:
            progress("step", {"name": name, "status": status})
    return Validation(steps=steps)


def _syntax(files: dict[str, str]) -> list[Finding]:
    found = []
    for path, content in sorted(files.items()):
        if path.endswith(".py"):
            try:
                compile(content, path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                found.append(Finding("syntax", getattr(exc, "msg", str(exc)), path=path,
                                     line=getattr(exc, "lineno", None)))
    try:
        config = yaml.safe_load(files.get("config.yaml", ""))
        if not isinstance(config, dict):
            found.append(Finding("syntax", "config.yaml is not a mapping", path="config.yaml"))
    except yaml.YAMLError as exc:
        found.append(Finding("syntax", f"config.yaml is not YAML: {exc}", path="config.yaml"))
    return found


def _contract(files: dict[str, str]) -> list[Finding]:
    found = []
    try:
        check_code(files.get("bot.py", ""))
    except Invalid as exc:
        found.append(Finding("contract", exc.message, path="bot.py"))
    tree = ast.parse(files.get("test_bot.py", ""))
    if not any(isinstance(node, ast.Import) and any(a.name == "bot" for a in node.names)
               for node in tree.body):
        found.append(Finding("contract", "test_bot.py does not import bot", path="test_bot.py"))
    if not any(isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
               for node in ast.walk(tree)):
        found.append(Finding("contract", "test_bot.py has no test", path="test_bot.py"))
    return found
