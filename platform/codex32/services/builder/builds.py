"""Generating a conversation's bot as a queue job, its progress, and accepting the result.

- :func:`generate` queues the job in the caller's transaction (202): the conversation shows
  ``step: "queued"`` until a worker takes it.
- the job (:mod:`codex32.execution.builder_jobs`) marks it started (:func:`start`), calls
  :func:`pipeline.build` with no transaction open, writes every progress event to the
  conversation as it happens (:func:`add_progress`, a short transaction each), so ``GET``
  shows the running step and a client streaming events that goes away loses nothing, and
  stores the report (:func:`store`); the conversation becomes ``generated`` when the build
  passed, else ``failed`` with the reason in ``error`` (a message refines it, another
  generation retries it). Each of these
  NOTIFYs :data:`PROGRESS_CHANNEL` with the conversation's id, which wakes its streams.
- :func:`accept` creates the bot (or a new version of the refined bot) with every file, its
  settings and its schedule from ``config.yaml``, in the caller's transaction with its audit
  rows. The bot is ``active`` (a refined draft becomes active; a paused or archived one stays
  so).
No Flask here.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.db import notifications
from codex32.db.builder_models import BuilderConversation
from codex32.db.models import Bot, BotSchedule
from codex32.db.storable import storable
from codex32.errors import Conflict, Forbidden, Invalid
from codex32.execution import queue
from codex32.services import audit, bot_settings, bots, gateway, schedules
from codex32.services.builder import conversations
from codex32.services.builder.report import Build, as_json

log = logging.getLogger(__name__)

MAX_PROGRESS_EVENTS = 500  # kept per generation; later events are counted, not stored
# Every change of a build's progress NOTIFYs the conversation's id here, at commit: the event
# streams (GET .../events) wait on it instead of polling.
PROGRESS_CHANNEL = "builder_progress"
# What an accepted build makes the bot: its files passed validation, so it is no draft; a
# refined bot that was paused or archived stays so (resting it was its owner's choice).
ACCEPTED_STATUS = "active"


def generate(session: Session, principal: Principal, conversation_id: uuid.UUID
             ) -> BuilderConversation:
    """Queue the generation of a ``ready`` conversation (or a ``generated`` or ``failed`` one:
    again)."""
    conversation = conversations.get(session, conversation_id, lock=True)
    conversations.check_writer(principal, conversation)
    if conversation.step is not None:
        raise Conflict("a generation of this conversation is already running")
    if conversation.state == "gathering":
        raise Conflict(_answer_first(conversations.open_questions(session, conversation)))
    if conversation.state not in ("ready", "generated", "failed"):
        raise Conflict("the conversation was accepted")
    conversation.job_id = queue.defer_build(session, principal.workspace_id, conversation.id)
    conversation.step, conversation.progress, conversation.error = "queued", [], None
    conversation.updated_at = datetime.now(UTC)
    audit.record(session, principal, "builder.generate", "builder_conversation",
                 conversation.id, {"job_id": conversation.job_id})
    session.flush()
    return conversation


def _answer_first(questions: list[dict[str, Any]]) -> str:
    """Why a gathering conversation cannot generate yet: its open questions by id, and "use
    defaults" only when one of them has a default to use."""
    asked = "; ".join(f"{q.get('id')}: {q.get('question')}" for q in questions)
    defaults = any(q.get("default") is not None for q in questions)
    alternative = " or say 'use defaults'" if defaults else ""
    return (f"the conversation is gathering: answer its questions ({asked}){alternative} "
            "before generating")


@dataclass(frozen=True)
class Started:
    """A build ready to run: what :func:`pipeline.build` needs (no database objects)."""

    workspace_id: str
    conversation_id: str
    specification: dict[str, Any]
    caller: gateway.Caller
    previous: dict[str, str] | None


def start(session: Session, workspace_id: str, conversation_id: str, job_id: int | None
          ) -> Started | None:
    """Mark the conversation's build started (the job's first step); None when the job
    names no conversation waiting for it (deleted, or another generation since)."""
    conversation = session.execute(select(BuilderConversation).where(
        BuilderConversation.id == uuid.UUID(conversation_id)).with_for_update()).scalar()
    if conversation is None or conversation.step != "queued" or (
            job_id is not None and conversation.job_id != job_id):
        log.warning("build job %s names no conversation waiting for it", job_id)
        return None
    conversation.step, conversation.updated_at = "started", datetime.now(UTC)
    notifications.notify(session, PROGRESS_CHANNEL, conversation_id)
    # Metered to whoever started the conversation, as its turns are: an API key's build
    # counts against that key's budget (scope api_key), not only the workspace's.
    creator = {"user": "user_id", "api_key": "api_key_id"}.get(conversation.creator_type)
    caller = gateway.Caller(conversation_id=conversation_id,
                            **({creator: conversation.created_by} if creator else {}))
    previous = (conversations.previous_files(session, conversation.bot_id)
                if conversation.bot_id else None)
    session.flush()
    return Started(workspace_id, conversation_id, dict(conversation.specification), caller,
                   previous)


def add_progress(session: Session, conversation_id: str, event: str,
                 detail: dict[str, Any]) -> None:
    """Append one progress event to the conversation; its name becomes the running step."""
    entry = storable({"event": event, **detail, "at": datetime.now(UTC).isoformat()})
    table = BuilderConversation.__table__
    session.execute(update(BuilderConversation).where(
        BuilderConversation.id == uuid.UUID(conversation_id),
        func.jsonb_array_length(table.c.progress) < MAX_PROGRESS_EVENTS)
        .values(progress=table.c.progress.concat([entry]),
                step=str(detail.get("name") or event)[:64], updated_at=datetime.now(UTC)))
    notifications.notify(session, PROGRESS_CHANNEL, conversation_id)


def store(session: Session, conversation_id: str, build: Build | None,
          error: str | None) -> None:
    """The build's end: its report, or the error that stopped the job. The conversation is
    ``generated`` when the build passed, else ``failed`` with why in ``error``."""
    values: dict[str, Any] = {"step": None, "error": error, "updated_at": datetime.now(UTC),
                              "state": "failed"}
    if build is not None:
        values.update(report=storable(as_json(build)),
                      state="generated" if build.passed else "failed",
                      error=None if build.passed else (
                          build.stopped or "the generated files failed validation"))
    session.execute(update(BuilderConversation).where(
        BuilderConversation.id == uuid.UUID(conversation_id)).values(**values))
    notifications.notify(session, PROGRESS_CHANNEL, conversation_id)


# --- accept ------------------------------------------------------------------------------


def accept(session: Session, principal: Principal, conversation_id: uuid.UUID, *,
           name: str | None = None, platform_network: bool = False) -> dict[str, Any]:
    """Create the bot (or the refined bot's new version) from the generated files."""
    conversation = conversations.get(session, conversation_id, lock=True)
    conversations.check_writer(principal, conversation)
    report = conversation.report
    if conversation.state == "failed" and conversation.step is None:
        raise Conflict(f"the last build failed: {conversation.error}; change the "
                       "specification (a message) or generate again")
    if conversation.state != "generated" or not report or conversation.step is not None:
        raise Conflict(f"only a generated conversation can be accepted (this one is "
                       f"{'generating' if conversation.step else conversation.state})")
    if not report.get("passed"):
        raise Conflict("the last build did not pass validation; change the specification "
                       "and generate again")
    files = dict(report["rounds"][-1]["files"])
    code = files.pop("bot.py", None)
    if code is None:
        raise Conflict("the last build produced no bot.py")
    config = read_config(files.get("config.yaml", ""))
    settings = _settings(config, platform_network)
    schedule = config.get("schedule") if isinstance(config.get("schedule"), dict) else None
    # One audit row: the bot's own (bot.create, or bot.update for a refinement), naming the
    # conversation and the schedule it set.
    recorded = {"builder_conversation": str(conversation.id), "source": report.get("source"),
                **({"schedule": {"cron": schedule.get("cron"),
                                 "timezone": schedule.get("timezone")}} if schedule else {})}
    if conversation.bot_id is not None:
        if not principal.can(Permission.UPDATE_BOT):
            raise Forbidden("accepting a refined bot needs the update_bot permission")
        if name is not None:  # it names the bot accept creates; this one exists
            raise Invalid(f"name names a new bot; rename this one with PATCH /api/v1/bots/"
                          f"{conversation.bot_id}", errors={"json": {"name": [
                              "not allowed when accepting a refinement"]}})
        bot = bots.get(session, conversation.bot_id, lock=True)
        if not (schedule and schedule.get("cron")) and session.get(
                BotSchedule, (bot.workspace_id, bot.id)) is not None:
            # Refined into a bot that runs on no schedule: the old one must not keep firing.
            schedules.remove(session, principal, bot.id, audited=False)
            recorded["schedule"] = None
        version = bots.add_version(session, principal, bot, code,
                                   f"From builder conversation {conversation.id}", files)
        bot.settings = {**bot.settings, **settings}
        bot_settings.check(session, bot.settings)
        if bot.status == "draft":  # a validated version makes it runnable; a rest is kept
            recorded["status"] = {"before": bot.status, "after": ACCEPTED_STATUS}
            bot.status = ACCEPTED_STATUS
        audit.record(session, principal, "bot.update", "bot", bot.id,
                     {"version": version.number, "settings": settings, **recorded,
                      **audit.code_summary(code)})
    else:
        if not principal.can(Permission.CREATE_BOT):
            raise Forbidden("accepting a new bot needs the create_bot permission")
        spec = conversation.specification
        chosen = name or str(config.get("name") or spec.get("name"))
        if session.execute(select(Bot.id).where(Bot.name == chosen)).first() is not None:
            raise Conflict(f"a bot named '{chosen}' exists in this workspace: accept under "
                           f"another name, e.g. {json.dumps({'name': f'{chosen[:190]}-2'})}")
        bot = bots.create(session, principal, name=chosen,
                          description=str(config.get("description") or spec.get("purpose")
                                          or "")[:2000],
                          code=code, message=f"From builder conversation {conversation.id}",
                          settings=settings, files=files, audit_changes=recorded,
                          status=ACCEPTED_STATUS)
    if schedule and schedule.get("cron"):
        # A refined bot's schedule keeps what config.yaml does not say: its runs' input and
        # whether the user paused it.
        kept = session.get(BotSchedule, (bot.workspace_id, bot.id))
        schedules.put(session, principal, bot.id, cron=str(schedule["cron"]),
                      timezone=str(schedule.get("timezone") or "UTC"),
                      enabled=kept.enabled if kept else True,
                      input=kept.input if kept else None, audited=False)
    conversation.bot_id, conversation.state = bot.id, "accepted"
    conversation.accepted_version = bot.current_version
    conversation.updated_at = datetime.now(UTC)
    session.flush()
    return {"bot_id": bot.id, "version": bot.current_version, "schedule": schedule,
            "status": bot.status, "conversation_id": conversation.id}


def read_config(text: str) -> dict[str, Any]:
    """config.yaml as a dict; a schedule given as a bare cron becomes ``{cron, timezone}``."""
    try:
        config = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        raise Invalid(f"the generated config.yaml is not YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise Invalid("the generated config.yaml is not a mapping")
    if isinstance(config.get("schedule"), str):
        config["schedule"] = {"cron": config["schedule"],
                              "timezone": config.get("timezone") or "UTC"}
    return config


def _settings(config: dict[str, Any], platform_network: bool) -> dict[str, Any]:
    """The bot settings config.yaml states (timeouts, memory, retries, network,
    notifications)."""
    found: dict[str, Any] = {}
    timeouts = config.get("timeouts")
    timeout = timeouts.get("run_seconds") if isinstance(timeouts, dict) else \
        config.get("timeout_seconds")
    if isinstance(timeout, int | float) and timeout >= 1:
        found["timeout_seconds"] = int(timeout)
    memory = config.get("memory_mb")
    if isinstance(memory, int) and not isinstance(memory, bool):
        found["memory_mb"] = memory  # bounded by the workspace's maximum when checked
    retries = config.get("retries")
    if isinstance(retries, dict):
        if isinstance(retries.get("max"), int):
            found["max_retries"] = retries["max"]
        if isinstance(retries.get("backoff_seconds"), int | float):
            found["retry_backoff_seconds"] = int(retries["backoff_seconds"])
    elif isinstance(retries, int):
        found["max_retries"] = retries
    network = config.get("network")
    needed = network.get("needed") if isinstance(network, dict) else network
    if needed is True and not platform_network:
        raise Invalid("the generated bot needs the network, and this platform does not "
                      "allow bots on the network (CODEX32_ALLOW_BOT_NETWORK)")
    # Stated either way: a refined bot that no longer needs the network loses it.
    found["network"] = needed is True
    rules = _notifications(config.get("notifications"))
    if rules:  # none named: a refined bot keeps the rules set on it through the API
        found["notifications"] = rules
    return found


def _notifications(stated: Any) -> list[dict[str, Any]]:
    """The notification rules config.yaml states, in the bot settings' shape (``notifier``,
    ``on``; where a notifier delivers is its workspace configuration, so a rule's ``target``
    is not kept). Whether each notifier is installed is :func:`bot_settings.check`'s 422."""
    rules: list[dict[str, Any]] = []
    for rule in stated if isinstance(stated, list) else []:
        if not isinstance(rule, dict) or not isinstance(rule.get("notifier"), str):
            continue
        on = [s for s in bot_settings.NOTIFY_ON if s in (rule.get("on") or ())]
        if rule["notifier"] and on:
            rules.append({"notifier": rule["notifier"][:100], "on": on})
    return rules[:20]

