"""Suggestions for an existing bot: features, optimizations, tests and reliability fixes.

Three sources, each suggestion saying which: a static review of the current version's files
(:mod:`.code_review`), the bot's execution history (timeouts, failures, retries, durations),
and, when the workspace has a language model and the caller may use the builder, the model
(through the gateway, purpose ``builder``). Each carries the body of the
``POST /api/v1/builder/conversations`` call that starts a refine conversation from it.

A prepared call (docs/architecture.md, "Transactions"): :func:`prepare` reads in the caller's
transaction; the caller ends it before :meth:`Review.report`, which may ask the model.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.db.models import BotExecution
from codex32.errors import DomainError
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import bots, gateway, versions
from codex32.services.bot_settings import DEFAULTS
from codex32.services.builder import code_review, model_route, prompts
from codex32.services.builder.code_review import Suggestion
from codex32.services.gateway.calls import reported_text

HISTORY_RUNS = 200  # the most recent finished runs the history rules read
FINAL = ("succeeded", "failed", "timed_out", "cancelled")
TRANSIENT = ("URLError", "TimeoutError", "ConnectionError", "ConnectionResetError",
             "HTTPError", "RemoteDisconnected", "socket.timeout", "Timeout")
_RANK = {"high": 0, "medium": 1, "low": 2}
_VALIDATOR = Draft202012Validator(prompts.SUGGESTIONS_SCHEMA)


@dataclass(frozen=True)
class History:
    """What the bot's recent finished runs show."""

    runs: int = 0
    failed: int = 0
    timed_out: int = 0
    retries: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    errors: list[tuple[str, int]] = field(default_factory=list)  # (error type, count), top 3

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "failed": self.failed, "timed_out": self.timed_out,
                "retries": self.retries, "p50_seconds": self.p50_seconds,
                "p95_seconds": self.p95_seconds,
                "errors": [{"type": kind, "count": count} for kind, count in self.errors]}


@dataclass(frozen=True)
class Review:
    """Everything read for a bot's suggestions (no database objects)."""

    workspace_id: str
    bot_id: str
    name: str
    description: str
    version: int
    files: dict[str, str]
    history: History
    found: list[Suggestion]
    ask_model: bool

    def report(self, caller: gateway.Caller) -> dict[str, Any]:
        """The suggestions, the model's included when asked for; call with no transaction
        open. A model that fails leaves the others and says why in ``model.error``."""
        found, error = list(self.found), None
        if self.ask_model:
            try:
                found += self._from_model(caller)
            except DomainError as exc:
                error = f"the model could not be asked ({exc.status}): {exc.message}"
            except ValueError as exc:
                error = str(exc)
        found.sort(key=lambda s: (_RANK[s.impact], -_RANK[s.effort], s.id))
        return {"bot_id": self.bot_id, "version": self.version,
                "suggestions": [s.as_dict(self.bot_id) for s in found],
                "history": self.history.as_dict(),
                "model": {"asked": self.ask_model, "error": error}}

    def _from_model(self, caller: gateway.Caller) -> list[Suggestion]:
        messages = prompts.suggestion_messages(self.name, self.description, self.files,
                                               json.dumps(self.history.as_dict()),
                                               [s.title for s in self.found])
        request = ChatRequest(messages=tuple(Message(r, c) for r, c in messages),
                              temperature=0, max_tokens=1500, json_mode=True, timeout=60,
                              response_schema={"name": "suggestions",
                                               "schema": prompts.SUGGESTIONS_SCHEMA})
        text = gateway.chat(self.workspace_id, request, purpose="builder", caller=caller,
                            deadline_seconds=60).text
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("suggestions"), list):
            raise ValueError("the model's answer held no suggestions")
        taken = []
        for item in answer["suggestions"][:10]:
            if not isinstance(item, dict) or any(_VALIDATOR.iter_errors({"suggestions": [item]})):
                continue  # a malformed suggestion is left out, never shown
            # JSON escapes may spell half a UTF-16 pair ("\\ud800"), which no response carries.
            item = {key: reported_text(value) if isinstance(value, str) else value
                    for key, value in item.items()}
            digest = hashlib.sha256(item["title"].lower().encode()).hexdigest()[:10]
            taken.append(Suggestion(f"model:{digest}", item["kind"], item["title"],
                                    item["detail"], item["impact"], item["effort"], "model",
                                    item["message"]))
        return taken


def prepare(session: Session, principal: Principal, bot_id: uuid.UUID, *,
            use_model: bool = True) -> Review:
    """Read the bot, its current version and its history; the static and history
    suggestions are found here. Another workspace's bot is a 404 (row-level security)."""
    bot = bots.get(session, bot_id)
    files: dict[str, str] = {}
    if bot.current_version:
        version = versions.get(session, bot.id, bot.current_version)
        files = {**(version.files or {}), "bot.py": version.code}
    history = _history(session, bot.id)
    settings = {**DEFAULTS, **(bot.settings or {})}
    found = [*code_review.review(files, settings), *_from_history(history, settings)]
    ask = use_model and principal.can(Permission.USE_BUILDER) and \
        model_route.inspect(session, str(principal.workspace_id)).uses_model
    return Review(workspace_id=str(principal.workspace_id), bot_id=str(bot.id), name=bot.name,
                  description=bot.description, version=bot.current_version, files=files,
                  history=history, found=found, ask_model=ask)


def _history(session: Session, bot_id: uuid.UUID) -> History:
    rows = session.execute(
        select(BotExecution.status, BotExecution.trigger, BotExecution.attempt,
               BotExecution.duration_seconds, BotExecution.error)
        .where(BotExecution.bot_id == bot_id, BotExecution.status.in_(FINAL))
        .order_by(BotExecution.queued_at.desc()).limit(HISTORY_RUNS)).all()
    if not rows:
        return History()
    durations = sorted(row.duration_seconds for row in rows if row.duration_seconds is not None)
    errors = Counter(str((row.error or {}).get("type") or "unknown") for row in rows
                     if row.status == "failed")
    return History(
        runs=len(rows), failed=sum(row.status == "failed" for row in rows),
        timed_out=sum(row.status == "timed_out" for row in rows),
        retries=sum(row.trigger == "retry" or (row.attempt or 1) > 1 for row in rows),
        p50_seconds=round(statistics.median(durations), 3) if durations else None,
        p95_seconds=round(durations[min(len(durations) - 1, int(len(durations) * 0.95))], 3)
        if durations else None,
        errors=errors.most_common(3))


def _from_history(history: History, settings: dict[str, Any]) -> list[Suggestion]:
    """Suggestions the recent runs call for."""
    found = []
    timeout = settings.get("timeout_seconds") or DEFAULTS["timeout_seconds"]
    of = f"of the last {history.runs} runs"
    if history.timed_out:
        found.append(Suggestion(
            "history:timeouts", "reliability", "Runs time out",
            f"{history.timed_out} {of} hit the {timeout} s timeout.",
            "high" if history.timed_out * 10 >= history.runs else "medium", "medium", "history",
            f"Make this bot finish well within its {timeout} s timeout ({history.timed_out} "
            f"{of} timed out): bound every external call, work in smaller batches and stop "
            "cleanly when time runs short."))
    elif history.p95_seconds is not None and history.p95_seconds > 0.8 * timeout:
        found.append(Suggestion(
            "history:near-timeout", "optimization", "Runs come close to the timeout",
            f"95 % of runs take up to {history.p95_seconds} s of the {timeout} s allowed.",
            "medium", "medium", "history",
            f"Make this bot faster: its slowest runs take {history.p95_seconds} s of a "
            f"{timeout} s timeout. Cache what repeats and avoid needless waits."))
    if history.failed and history.failed * 5 >= history.runs:
        kind, count = history.errors[0] if history.errors else ("unknown", history.failed)
        found.append(Suggestion(
            "history:failures", "reliability", "Runs fail often",
            f"{history.failed} {of} failed, most often with {kind} ({count}).", "high",
            "medium", "history",
            f"Fix the failures of this bot: {history.failed} {of} failed, most often with "
            f"{kind}. Handle that case explicitly, fail with a clear message otherwise, and "
            "add a test for it."))
    transient = sum(count for kind, count in history.errors
                    if any(kind.endswith(t) for t in TRANSIENT))
    if transient and not settings.get("max_retries"):
        found.append(Suggestion(
            "history:no-retries", "reliability", "Retry runs that fail on transient errors",
            f"{transient} failed runs ended with a network error, and failed runs are not "
            "retried.", "medium", "low", "history",
            "Retry this bot's failed runs twice with backoff (they fail on transient network "
            "errors), and retry its network calls inside the run."))
    elif history.retries and history.retries * 10 >= history.runs:
        found.append(Suggestion(
            "history:retried-runs", "reliability", "Recover inside the run",
            f"{history.retries} {of} were retries of a failed run.", "medium", "medium",
            "history",
            "Make this bot recover from transient errors inside the run (retries with "
            "backoff around its external calls) so that whole runs need no retry."))
    return found
