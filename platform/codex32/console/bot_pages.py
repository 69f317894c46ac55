"""Bot pages: the list with search and status, one bot's page (versions and their diff,
settings, secrets' names, schedule and its next runs, recent runs, suggestions), "run now".

Thin, as an API view: read the form or query, call the services the REST API calls, render.
"""

from __future__ import annotations

import difflib
import json
import uuid
from typing import Any

from flask import redirect, render_template, request, url_for

from codex32.api import transaction
from codex32.auth.guard import current_principal
from codex32.auth.rbac import Permission
from codex32.console.blueprint import blp, page
from codex32.console.highlight import code
from codex32.db import db
from codex32.errors import Invalid, NotFound
from codex32.services import bot_secrets, executions, gateway, schedules, versions
from codex32.services import bots as bot_service
from codex32.services.builder import suggestions
from codex32.services.pages import PageRequest

PAGE_SIZE = 25
RECENT = 10
MAX_INPUT = 64 * 1024
ACTIVE = ("queued", "running")


@blp.route("/bots", methods=["GET"])
@page(Permission.VIEW_BOTS)
def bots():
    """The workspace's bots, newest first, filtered by text and status."""
    q = request.args.get("q", "").strip()[:200]
    status = request.args.get("status", "")
    status = status if status in bot_service.STATUSES else ""
    number = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    found = bot_service.list_bots(db.session, PageRequest(number, PAGE_SIZE),
                                  status=status or None, q=q or None)
    template = ("console/bots/rows.html" if request.headers.get("HX-Request")
                else "console/bots/list.html")
    return render_template(template, page=found, q=q, status=status,
                           statuses=bot_service.STATUSES)


@blp.route("/bots/<uuid:bot_id>", methods=["GET"])
@page(Permission.VIEW_BOTS)
def bot(bot_id: uuid.UUID):
    """One bot: versions, settings, secrets' names, schedule, recent runs, run now."""
    principal = current_principal()
    found = bot_service.get(db.session, bot_id)
    listed = versions.list_versions(db.session, bot_id, PageRequest(1, 50)).items
    try:
        schedule = schedules.get(db.session, bot_id)
        next_runs = schedules.upcoming(schedule)
    except NotFound:
        schedule, next_runs = None, []
    secret_names = (bot_secrets.list_names(db.session, bot_id)
                    if principal.can(Permission.UPDATE_BOT) else None)
    current = (versions.get(db.session, bot_id, found.current_version)
               if found.current_version else None)
    return render_template("console/bots/detail.html", bot=found, versions=listed,
                           schedule=schedule, next_runs=next_runs, secrets=secret_names,
                           files=_files_of(current), **_runs_of(bot_id))


@blp.route("/bots/<uuid:bot_id>/runs", methods=["GET"])
@page(Permission.VIEW_BOTS)
def bot_runs(bot_id: uuid.UUID):
    """The bot's recent runs alone (htmx polls it while one is queued or running)."""
    return render_template("console/bots/runs.html", bot_id=bot_id, **_runs_of(bot_id))


@blp.route("/bots/<uuid:bot_id>/run", methods=["POST"])
@page(Permission.EXECUTE_BOT)
def run_now(bot_id: uuid.UUID):
    """Queue a run with the editor's JSON input (as ``POST /api/v1/bots/{id}/executions``)."""
    event = _input(request.form.get("input", ""))
    executions.enqueue(db.session, current_principal(), bot_id, input=event)
    return redirect(url_for("console.bot", bot_id=bot_id, _anchor="runs"), code=303)


@blp.route("/bots/<uuid:bot_id>/diff", methods=["GET"])
@page(Permission.VIEW_BOTS)
def diff(bot_id: uuid.UUID):
    """The difference between two versions' files (``a`` and ``b``: version numbers)."""
    a = request.args.get("a", type=int) or 0
    b = request.args.get("b", type=int) or 0
    older, newer = versions.get(db.session, bot_id, a), versions.get(db.session, bot_id, b)
    left, right = _files_of(older), _files_of(newer)
    lines: list[str] = []
    for path in sorted(set(left) | set(right)):
        lines += difflib.unified_diff(left.get(path, "").splitlines(keepends=True),
                                      right.get(path, "").splitlines(keepends=True),
                                      f"v{a}/{path}", f"v{b}/{path}")
    found = bot_service.get(db.session, bot_id)
    return render_template("console/bots/diff.html", bot=found, a=a, b=b,
                           diff=code("changes.diff", "".join(lines)) if lines else None)


@blp.route("/bots/<uuid:bot_id>/suggestions", methods=["GET"])
@page(Permission.VIEW_BOTS)
def bot_suggestions(bot_id: uuid.UUID):
    """Suggestions for the bot (as ``GET /api/v1/bots/{id}/suggestions``: never the model's,
    so loading the bot's page spends nothing), a fragment."""
    review = suggestions.prepare(db.session, current_principal(), bot_id, use_model=False)
    return render_template("console/bots/suggestions.html", report=review.report(
        gateway.Caller()))


@blp.route("/bots/<uuid:bot_id>/suggestions", methods=["POST"])
@page(Permission.USE_BUILDER)
def ask_for_suggestions(bot_id: uuid.UUID):
    """The suggestions with the model's (as ``POST /api/v1/bots/{id}/suggestions``: one
    billed gateway call), a fragment."""
    principal = current_principal()
    review = suggestions.prepare(db.session, principal, bot_id, use_model=True)
    transaction.end()  # the model may take seconds: hold no connection meanwhile
    found = review.report(gateway.Caller(user_id=principal.user_id,
                                         api_key_id=principal.api_key_id, bot_id=bot_id))
    return render_template("console/bots/suggestions.html", report=found)


def _input(text: str) -> dict[str, Any]:
    """The run's input from the editor: a JSON object (empty: ``{}``)."""
    if len(text) > MAX_INPUT:
        raise Invalid(f"the input is larger than {MAX_INPUT} bytes")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"the input is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Invalid("the input must be a JSON object")
    return value


def _files_of(version: Any) -> dict[str, str]:
    """A version's files, its code as bot.py."""
    if version is None:
        return {}
    return {"bot.py": version.code, **(version.files or {})}


def _runs_of(bot_id: uuid.UUID) -> dict[str, Any]:
    recent = executions.list_for_bot(db.session, bot_id, PageRequest(1, RECENT)).items
    return {"runs": recent, "active": any(run["status"] in ACTIVE for run in recent)}
