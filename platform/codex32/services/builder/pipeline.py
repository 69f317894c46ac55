"""The builder's pipeline: generate a bot's files, validate them, repair what fails.

    build(spec) ─► generate (model through the gateway, or a template offline)
               ─► validate ─► [repair with the findings ─► validate] at most N times ─► Build

With a language model configured, a failed validation sends the findings and the files back
to the model for a repair, at most ``builder.max_repair_rounds`` times (workspace setting,
default :data:`DEFAULT_REPAIR_ROUNDS`, bounded by the platform's
``CODEX32_BUILDER_MAX_REPAIR_ROUNDS``). Offline (the workspace's LLM is the built-in
heuristics) a template-shaped specification is rendered by the template generator and
validated once: heuristics cannot repair code. Every round is kept; ``stopped`` says
honestly why the loop ended without a passing validation.

Called from a queue job or a thread with no transaction open: it opens its own short
sessions and holds none across a model call or a validation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from codex32 import runtime
from codex32.db import tenancy
from codex32.plugins.interfaces import ExecutionLimits
from codex32.services import bot_settings, gateway, provider_instances
from codex32.services.builder import config_file, generate, model_route, prompts, validation
from codex32.services.builder import spec as spec_module
from codex32.services.builder.report import Build, Progress, Round, Source, Validation

log = logging.getLogger(__name__)

DEFAULT_REPAIR_ROUNDS = 3
MAX_TEST_TIMEOUT_SECONDS = 120


class ValidationCrashed(Exception):
    """Validation itself failed (not the files); the message is the build's ``stopped``."""


@dataclass(frozen=True)
class Plan:
    """What the workspace decides about a build: who writes the files, how many repairs."""

    route: model_route.ModelRoute  # whether a model is on the route, else why not
    repair_rounds: int
    max_timeout_seconds: int
    max_memory_mb: int

    @property
    def uses_model(self) -> bool:
        return self.route.uses_model


def build(workspace_id: str, spec: dict[str, Any], *, caller: gateway.Caller,
          previous: dict[str, str] | None = None, max_rounds: int | None = None,
          progress: Progress | None = None) -> Build:
    """Generate, validate and repair the bot ``spec`` describes (``previous``: refine those
    files). ``max_rounds`` is the most repair rounds after the first (None: the workspace's
    setting); it is bounded by the platform's maximum."""
    notify = _safe(progress)
    plan = plan_for(workspace_id)
    source: Source = "model" if plan.uses_model else "heuristics"
    problems = spec_module.errors(spec)
    if problems:
        return _stopped(notify, source, "the specification is invalid: " + "; ".join(problems[:5]))
    repairs = plan.repair_rounds if max_rounds is None else max_rounds
    repairs = max(0, min(repairs, runtime.current().settings.builder_max_repair_rounds))
    limits = _limits(spec, plan)
    if plan.uses_model:
        return _with_model(workspace_id, spec, caller, previous or {}, repairs, limits, notify)
    return _with_heuristics(workspace_id, spec, caller, previous or {}, limits, notify,
                            plan.route)


def plan_for(workspace_id: str) -> Plan:
    """Read the workspace's LLM route and builder settings (one short session)."""
    with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
        known = provider_instances.snapshot(session, workspace_id, "llm")
        found = known.settings.get("builder")
        own: dict[str, Any] = found if isinstance(found, dict) else {}
        route = model_route.inspect(session, workspace_id, known)
        execution = bot_settings.execution_of(known.settings)
    settings = runtime.current().settings
    rounds = own.get("max_repair_rounds", DEFAULT_REPAIR_ROUNDS)
    own_timeout, own_memory = (execution.get(key) for key in ("max_timeout_seconds",
                                                             "max_memory_mb"))
    timeout = min(settings.max_timeout_seconds, own_timeout) if bot_settings.is_count(
        own_timeout) else settings.max_timeout_seconds
    memory = min(settings.max_memory_mb, own_memory) if bot_settings.is_count(
        own_memory) else settings.max_memory_mb
    return Plan(route=route,
                repair_rounds=rounds if isinstance(rounds, int) else DEFAULT_REPAIR_ROUNDS,
                max_timeout_seconds=timeout, max_memory_mb=memory)


def _with_model(workspace_id: str, spec: dict[str, Any], caller: gateway.Caller,
                previous: dict[str, str], repairs: int, limits: ExecutionLimits | None,
                notify: Progress) -> Build:
    started = time.monotonic()
    notify("step", {"round": 1, "name": "generate", "status": "running"})
    try:
        messages = prompts.generation_messages(spec, previous,
                                               _template_start(workspace_id, spec, caller))
        written = generate.from_model(workspace_id, messages, caller=caller)
    except generate.GenerationFailed as exc:
        notify("step", {"round": 1, "name": "generate", "status": "failed"})
        return _stopped(notify, "model", str(exc))
    files = {**written, "config.yaml": config_file.render(
        spec, previous=previous.get("config.yaml"), source="model")}
    rounds: list[Round] = []
    try:
        rounds.append(_round(1, files, previous, workspace_id, limits, started, notify))
    except ValidationCrashed as exc:
        return _stopped(notify, "model", str(exc))
    stopped = None
    while not rounds[-1].validation.passed:
        number = len(rounds) + 1
        if number > repairs + 1:
            stopped = (f"validation still fails after {repairs} repair round"
                       f"{'' if repairs == 1 else 's'} (the workspace's limit)")
            break
        started = time.monotonic()
        notify("step", {"round": number, "name": "repair", "status": "running"})
        last = rounds[-1]
        try:
            changed = generate.from_model(
                workspace_id, prompts.repair_messages(spec, last.files,
                                                      last.validation.findings,
                                                      _output(last.validation)),
                caller=caller, partial=True)
        except generate.GenerationFailed as exc:
            notify("step", {"round": number, "name": "repair", "status": "failed"})
            stopped = f"repair round {number}: {exc}"
            break
        files = {**last.files, **changed}
        if files == last.files:
            notify("step", {"round": number, "name": "repair", "status": "failed"})
            stopped = f"repair round {number}: the model answered the same files again"
            break
        try:
            rounds.append(_round(number, files, last.files, workspace_id, limits, started,
                                 notify))
        except ValidationCrashed as exc:
            stopped = str(exc)
            break
    return _finished(notify, Build(rounds=rounds, source="model", stopped=stopped))


def _template_start(workspace_id: str, spec: dict[str, Any], caller: gateway.Caller
                    ) -> dict[str, str] | None:
    """The template bot a template-shaped specification renders to, as the model's starting
    point (None when the specification names no template or its parameters do not fit)."""
    if not spec.get("template"):
        return None
    try:
        files, _ = generate.from_template(workspace_id, spec, caller=caller)
    except generate.GenerationFailed:
        return None
    return {path: files[path] for path in ("bot.py", "test_bot.py") if path in files}


def _with_heuristics(workspace_id: str, spec: dict[str, Any], caller: gateway.Caller,
                     previous: dict[str, str], limits: ExecutionLimits | None,
                     notify: Progress, route: model_route.ModelRoute) -> Build:
    if not spec.get("template"):
        missing, fix = route.why_heuristics()
        return _stopped(notify, "heuristics", (
            f"{missing}, and the built-in heuristics write bots from templates only; this "
            f"specification fits none of them. {fix} to generate it."))
    started = time.monotonic()
    notify("step", {"round": 1, "name": "generate", "status": "running"})
    try:
        written, template = generate.from_template(workspace_id, spec, caller=caller)
    except generate.GenerationFailed as exc:
        notify("step", {"round": 1, "name": "generate", "status": "failed"})
        return _stopped(notify, "heuristics", str(exc))
    files = {**generate.labelled(written, str(template["id"])),
             "config.yaml": config_file.render(spec, previous=previous.get("config.yaml"),
                                               source="heuristics", template=template)}
    try:
        first = _round(1, files, previous, workspace_id, limits, started, notify)
    except ValidationCrashed as exc:
        return _stopped(notify, "heuristics", str(exc))
    stopped = None if first.validation.passed else (
        "the template's files failed validation, and the built-in heuristics cannot repair "
        "code; configure an LLM provider to repair it")
    return _finished(notify, Build(rounds=[first], source="heuristics", stopped=stopped))


def _round(number: int, files: dict[str, str], before: dict[str, str], workspace_id: str,
           limits: ExecutionLimits | None, started: float, notify: Progress) -> Round:
    """Validate ``files`` as round ``number``; ``before`` is what they changed from."""
    notify("step", {"round": number, "name": "validate", "status": "running"})

    def forward(event: str, detail: dict[str, Any]) -> None:
        notify(event, {"round": number, **detail})

    try:
        checked = validation.validate(files, workspace_id=workspace_id, limits=limits,
                                      progress=forward)
    except Exception as exc:  # a broken validator or sandbox must not lose the rounds so far
        log.exception("builder validation crashed in round %s", number)
        raise ValidationCrashed(f"round {number}: the files could not be validated "
                                f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    changed = sorted(path for path in files if before.get(path) != files[path])
    done = Round(number=number, files=files, validation=checked, changed=changed,
                 duration_ms=round((time.monotonic() - started) * 1000, 1))
    notify("round", {"round": number, "passed": checked.passed, "changed": changed})
    return done


def _output(checked: Validation) -> str:
    """What the failed steps' tools said (pytest's report, ruff's lines), bounded."""
    parts = [f"[{step.name}]\n{step.output}" for step in checked.steps
             if step.status == "failed" and step.output.strip()]
    if checked.tests is not None and checked.tests.output.strip():
        parts.append(f"[tests]\n{checked.tests.output}")
    return "\n".join(parts)[-8000:]


def _limits(spec: dict[str, Any], plan: Plan) -> ExecutionLimits | None:
    """The bot's limits for running its tests (None: validation's defaults)."""
    wanted = spec.get("limits") or {}
    if not wanted:
        return None
    timeout = min(wanted.get("timeout_seconds", 30), plan.max_timeout_seconds,
                  MAX_TEST_TIMEOUT_SECONDS)
    memory = min(max(wanted.get("memory_mb", 256), 256), plan.max_memory_mb)
    return ExecutionLimits(timeout_seconds=float(timeout), memory_mb=memory)


def _stopped(notify: Progress, source: Source, why: str) -> Build:
    return _finished(notify, Build(rounds=[], source=source, stopped=why))


def _finished(notify: Progress, result: Build) -> Build:
    notify("build", {"passed": result.passed, "rounds": len(result.rounds),
                     "source": result.source, "stopped": result.stopped})
    return result


def _safe(progress: Progress | None) -> Progress:
    """``progress`` that never raises into the pipeline (and nothing when None)."""
    def notify(event: str, detail: dict[str, Any]) -> None:
        if progress is None:
            return
        try:
            progress(event, detail)
        except Exception:
            log.warning("a builder progress callback failed", exc_info=True)
    return notify
