"""PROVISIONAL pipeline (builder-chat): generation from templates only, no validation.

builder-generate owns this module (generation by a model, validation, the repair loop); this
stand-in exists so that the conversation's job, progress and accept paths run end to end
before that branch is merged, and the merge takes theirs. It keeps the contract's signature:
it renders the specification's template with the workspace's template generator, writes
``config.yaml`` from the specification, checks that every Python file compiles and that
``bot.py`` defines ``main``, and says honestly (``stopped``) that lint, security,
requirements and the generated tests were not run.
"""

from __future__ import annotations

import ast
import time
from typing import Any

import yaml

from codex32 import runtime
from codex32.db import tenancy
from codex32.plugins.errors import ConfigInvalid, PluginError
from codex32.plugins.interfaces import CodeGenerator, GenerationRequest
from codex32.services import gateway, providers
from codex32.services.builder.report import Build, Finding, Progress, Round, Step, Validation

NOT_RUN = ("provisional pipeline: only syntax and the bot contract were checked; lint, "
           "security, requirements and the generated tests were not run")


def build(workspace_id: str, spec: dict[str, Any], *, caller: gateway.Caller,
          previous: dict[str, str] | None = None, max_rounds: int | None = None,
          progress: Progress | None = None) -> Build:
    """One round: the template's files for ``spec``, syntax and contract checked."""
    report = progress or (lambda event, detail: None)
    started = time.perf_counter()
    report("step", {"round": 1, "name": "generate", "status": "running"})
    files, findings = _generate(workspace_id, spec)
    if findings:
        report("step", {"round": 1, "name": "generate", "status": "failed"})
        steps = [Step("syntax", "failed", findings)]
        return Build(rounds=[Round(1, previous or {}, Validation(steps))], source="heuristics",
                     stopped="no template could be rendered for this specification")
    report("step", {"round": 1, "name": "generate", "status": "passed"})
    steps = []
    for name, check in (("syntax", _syntax), ("contract", _contract)):
        report("step", {"round": 1, "name": name, "status": "running"})
        step_started = time.perf_counter()
        problems = check(files)
        steps.append(Step(name, "failed" if problems else "passed", problems,
                          duration_ms=round((time.perf_counter() - step_started) * 1000, 2)))
        report("step", {"round": 1, "name": name, "status": steps[-1].status})
        if problems:
            break
    changed = sorted(p for p in files if (previous or {}).get(p) != files[p])
    round_ = Round(1, files, Validation(steps), changed=changed,
                   duration_ms=round((time.perf_counter() - started) * 1000, 2))
    return Build(rounds=[round_], source="heuristics", stopped=NOT_RUN)


def _generate(workspace_id: str, spec: dict[str, Any]) -> tuple[dict[str, str], list[Finding]]:
    template = spec.get("template")
    if not template:
        return {}, [Finding("syntax", "the specification names no template, and this "
                            "provisional pipeline only renders templates")]
    with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
        generator = providers.build(session, workspace_id, CodeGenerator, "template")
    trigger = spec.get("trigger") or {}
    request = GenerationRequest(
        name=spec["name"], description=spec.get("purpose", ""), template=template,
        parameters=spec.get("parameters") or {},
        specification={"trigger": trigger.get("type"), "schedule": trigger.get("cron")})
    try:
        generated = generator.generate(request)
    except ConfigInvalid as exc:
        return {}, [Finding("syntax", f"{field}: {'; '.join(problems)}")
                    for field, problems in (exc.errors or {"template": [str(exc)]}).items()]
    except PluginError as exc:
        return {}, [Finding("syntax", str(exc))]
    return {**generated.files, "config.yaml": config_yaml(spec, generated.requires)}, []


def config_yaml(spec: dict[str, Any], requires: dict[str, Any]) -> str:
    """config.yaml from the specification: what accept reads back into the bot."""
    trigger = spec.get("trigger") or {}
    config: dict[str, Any] = {"name": spec["name"], "description": spec.get("purpose", ""),
                              "version": 1}
    if trigger.get("type") == "schedule" and trigger.get("cron"):
        config["schedule"] = {"cron": trigger["cron"],
                              "timezone": trigger.get("timezone") or "UTC"}
    limits = spec.get("limits") or {}
    config["timeouts"] = {"run_seconds": limits.get("timeout_seconds", 30)}
    handling = spec.get("error_handling") or {}
    config["retries"] = {"max": handling.get("retries", 0),
                         "backoff_seconds": int(handling.get("backoff_seconds", 10))}
    config["notifications"] = []
    network = spec.get("network") or {}
    config["network"] = bool(network.get("needed") or requires.get("network"))
    config["secrets"] = list(spec.get("secrets") or [])
    if spec.get("template"):
        config["template"] = spec["template"]
        config["parameters"] = spec.get("parameters") or {}
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _syntax(files: dict[str, str]) -> list[Finding]:
    found = []
    for path, text in files.items():
        if path.endswith(".py"):
            try:
                compile(text, path, "exec")
            except SyntaxError as exc:
                found.append(Finding("syntax", exc.msg or "invalid syntax", path=path,
                                     line=exc.lineno))
    return found


def _contract(files: dict[str, str]) -> list[Finding]:
    tree = ast.parse(files.get("bot.py", ""))
    if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
        return []
    return [Finding("contract", "bot.py defines no main(event, context)", path="bot.py")]
