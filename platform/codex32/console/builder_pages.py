"""The builder: describe a bot, answer its questions, watch it generate and validate, accept.

Thin, as ``/api/v1/builder``: the same conversation and build services with the same principal.
A turn calls a model, so the view ends its transaction first, exactly as the API view does;
generation is the same queue job, and the page follows the conversation's stored progress
through the API's Server-Sent Events stream (``/builder/<id>/events``, the same generator as
``GET /api/v1/builder/conversations/<id>/events``); ``console.js`` falls back to polling the
build panel when the browser has no ``EventSource`` or the stream fails.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for

from codex32 import runtime
from codex32.api import transaction
from codex32.api.v1.builder import progress_events
from codex32.auth.guard import current_principal
from codex32.auth.rbac import Permission
from codex32.console.blueprint import blp, page
from codex32.console.forms import NOTHING, Refill, refill
from codex32.console.highlight import code
from codex32.db import db
from codex32.errors import Invalid
from codex32.services.builder import builds, clarify, conversations
from codex32.services.pages import PageRequest

MAX_MESSAGE = 20_000
MAX_ANSWER = 2_000
ANSWER_PREFIX = "answer-"


@blp.route("/builder", methods=["GET"])
@page(Permission.VIEW_BOTS)
def builder():
    """The builder's start: a box to describe a bot, and the recent conversations."""
    recent = conversations.list_conversations(db.session, PageRequest(1, 10))
    return render_template("console/builder/start.html", recent=recent)


@blp.route("/builder", methods=["POST"])
@page(Permission.USE_BUILDER)
def builder_start():
    """Start a conversation from the description (as ``POST /api/v1/builder/conversations``);
    with ``bot_id`` (a suggestion's "refine"), one that refines that bot."""
    message = request.form.get("message", "").strip()
    if not message or len(message) > MAX_MESSAGE:
        raise Invalid(f"describe the bot in 1 to {MAX_MESSAGE} characters")
    bot_id = _bot_id(request.form.get("bot_id", ""))
    principal = current_principal()
    prepared = conversations.prepare_start(db.session, principal, message=message,
                                           bot_id=bot_id)
    transaction.end()  # the turn calls a model: hold no connection meanwhile
    reply = clarify.respond(prepared.context)
    conversations.record(db.session, principal, prepared, reply)
    return redirect(url_for("console.conversation",
                            conversation_id=prepared.context.conversation_id), code=303)


def _conversation_page(conversation_id: uuid.UUID, refill: Refill = NOTHING):
    found = conversations.detail(db.session, conversation_id)
    return render_template("console/builder/conversation.html", conversation=found,
                           refill=refill, **_build_view(found))


@blp.route("/builder/<uuid:conversation_id>", methods=["GET"])
@page(Permission.VIEW_BOTS)
def conversation(conversation_id: uuid.UUID):
    """One conversation: the chat, the specification beside it, the build and its files."""
    return _conversation_page(conversation_id)


@blp.route("/builder/<uuid:conversation_id>/build", methods=["GET"])
@page(Permission.VIEW_BOTS)
def build_panel(conversation_id: uuid.UUID):
    """The build panel alone (fetched on each progress event while the build runs, or
    polled by htmx when the events cannot be followed)."""
    found = conversations.detail(db.session, conversation_id)
    if not found["running"] and request.headers.get("HX-Request"):
        # The build ended while the page watched: reload it whole (state, chat, files).
        return Response(status=204, headers={"HX-Refresh": "true"})
    return render_template("console/builder/build.html", conversation=found,
                           **_build_view(found))


@blp.route("/builder/<uuid:conversation_id>/events", methods=["GET"])
@page(Permission.VIEW_BOTS)
def build_events(conversation_id: uuid.UUID):
    """The build's progress as Server-Sent Events (the API's stream, for the session)."""
    return progress_events(conversation_id)


@blp.route("/builder/<uuid:conversation_id>/messages", methods=["POST"])
@page(Permission.USE_BUILDER)
@refill(_conversation_page)
def add_message(conversation_id: uuid.UUID):
    """The member's turn: a message and answers by question id (as ``…/messages``)."""
    content = request.form.get("content", "").strip()[:MAX_MESSAGE]
    answers = _answers(request.form)
    if request.form.get("use_defaults"):
        content = content or "use defaults"
    if not content and not answers:
        raise Invalid("write a message or answer a question", errors={"form": {
            "content": ["write a message or answer a question"]}})
    principal = current_principal()
    prepared = conversations.prepare_message(db.session, principal, conversation_id,
                                             content=content, answers=answers)
    transaction.end()  # the turn calls a model: hold no connection meanwhile
    reply = clarify.respond(prepared.context)
    conversations.record(db.session, principal, prepared, reply)
    return redirect(url_for("console.conversation", conversation_id=conversation_id), code=303)


@blp.route("/builder/<uuid:conversation_id>/generate", methods=["POST"])
@page(Permission.USE_BUILDER)
def generate(conversation_id: uuid.UUID):
    """Queue the generation (as ``…/generate``); the page follows its progress."""
    builds.generate(db.session, current_principal(), conversation_id)
    return redirect(url_for("console.conversation", conversation_id=conversation_id,
                            _anchor="build"), code=303)


@blp.route("/builder/<uuid:conversation_id>/accept", methods=["POST"])
@page(Permission.USE_BUILDER)
def accept(conversation_id: uuid.UUID):
    """Create the bot from the generated files (as ``…/accept``); then its page."""
    name = request.form.get("name", "").strip()[:200] or None
    accepted = builds.accept(db.session, current_principal(), conversation_id, name=name,
                             platform_network=runtime.of(current_app).settings.allow_bot_network)
    return redirect(url_for("console.bot", bot_id=accepted["bot_id"]), code=303)


def _bot_id(given: str) -> uuid.UUID | None:
    if not given:
        return None
    try:
        return uuid.UUID(given)
    except ValueError as exc:
        raise Invalid("bot_id is not a bot's id") from exc


def _answers(form: Any) -> dict[str, str]:
    """The form's non-empty answers by question id."""
    found = {}
    for key, value in form.items():
        if key.startswith(ANSWER_PREFIX) and value.strip():
            question = key[len(ANSWER_PREFIX):][:64]
            found[question] = value.strip()[:MAX_ANSWER]
    return found


def _file_order(path: str) -> tuple[int, str]:
    """The bot's code first, then its tests, then the rest by name."""
    return ({"bot.py": 0, "test_bot.py": 1}.get(path, 2), path)


def _build_view(found: dict[str, Any]) -> dict[str, Any]:
    """What the build panel shows: steps by round, the last round's tests and files."""
    report = found.get("report") or {}
    rounds = report.get("rounds") or []
    last = rounds[-1] if rounds else {}
    files = last.get("files") or {}
    steps: list[dict[str, Any]] = []
    for event in found.get("progress") or []:
        if event.get("event") != "step":
            continue
        same = next((s for s in steps if s["name"] == event.get("name")
                     and s["round"] == event.get("round")), None)
        if same is None:
            steps.append(dict(event))
        else:
            same.update(event)
    if not found.get("running"):
        for step in steps:  # a step the build never reported as ended ended with it
            if step.get("status") == "running":
                step["status"] = "done"
    return {"steps": steps, "rounds": rounds,
            "tests": (last.get("validation") or {}).get("tests"),
            "files": {path: code(path, files[path]) for path in sorted(files, key=_file_order)},
            "passed": bool(report.get("passed")), "stopped": report.get("stopped")}
