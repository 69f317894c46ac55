"""Builder endpoints: conversations that describe, clarify, generate and accept a bot.

Thin: parse, call the builder's services, shape the answer. A turn calls a model, so the view
prepares it, ends its transaction, runs it and records it in a new one; generation is a queue
job (202) whose progress lives on the conversation (``GET``, or ``/events`` as Server-Sent
Events). The specification's JSON Schema is published as ``BotSpecification``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, request, stream_with_context
from marshmallow import ValidationError, fields, validate

from codex32 import runtime
from codex32.api import openings, transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, PageArgs, Strict, name_length, page_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db, notifications, tenancy
from codex32.db.builder_models import STATES
from codex32.errors import Invalid, NotFound
from codex32.services.builder import builds, clarify, conversations
from codex32.services.builder.spec import SPEC_SCHEMA
from codex32.services.pages import PageRequest

if TYPE_CHECKING:
    from codex32.api.openapi import Api

blp = Blueprint("builder", __name__, url_prefix="/api/v1/builder",
                description="The AI bot builder: describe a bot, answer its questions, "
                            "generate, accept.")

SPEC_REF = {"allOf": [{"$ref": "#/components/schemas/BotSpecification"}]}
RECONNECT_MILLISECONDS = 1000  # the SSE ``retry`` a client waits before reconnecting
BUSY_RECONNECT_MILLISECONDS = 5000  # the same when this process had no watching slot free
FEED_KEY = "codex32.builder_progress_feed"
_FEED_LOCK = threading.Lock()


def register_schemas(api: Api) -> None:
    """Publish the specification's JSON Schema in the OpenAPI document."""
    api.document(lambda spec: spec.components.schema(
        "BotSpecification", {k: v for k, v in SPEC_SCHEMA.items() if k != "$schema"}))


def _answer_value(value: Any) -> None:
    if not isinstance(value, str | int | float | bool) or (isinstance(value, str)
                                                            and len(value) > 2000):
        raise ValidationError("an answer is a string (at most 2000 characters), a number "
                              "or a boolean")


class BuilderStartSchema(Strict):
    message = fields.String(validate=validate.Length(min=1, max=20_000),
                            metadata={"description": "the bot, described in plain words"})
    bot_id = fields.UUID(metadata={"description": "refine this bot: its files and settings "
                                                  "become the specification"})


class BuilderMessageSchema(Strict):
    content = fields.String(load_default="", validate=validate.Length(max=20_000))
    answers = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.Raw(validate=_answer_value),
                          validate=validate.Length(max=20), load_default=dict,
                          metadata={"description": "question id → answer"})


class BuilderAcceptSchema(Strict):
    name = fields.String(validate=name_length,  # as the bots API: not blank, the bounded length
                         metadata={"description": "the new bot's name (default: the "
                                                  "specification's); refused (422) when the "
                                                  "conversation refines a bot"})


class ConversationListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(STATES))
    mine = fields.Boolean(load_default=False, metadata={
        "description": "only the conversations you started"})


class BuilderQuestionSchema(Output):
    id = fields.String(required=True)
    field = fields.String(required=True, metadata={"description": "the spec field it settles"})
    question = fields.String(required=True)
    why = fields.String(required=True)
    options = fields.List(fields.String(), required=True)
    default = fields.Raw(allow_none=True)


class BuilderTurnSchema(Output):
    number = fields.Integer(required=True)
    role = fields.String(required=True, metadata={"description": "user or assistant"})
    content = fields.String(required=True)
    answers = fields.Dict(required=True)
    questions = fields.List(fields.Nested(BuilderQuestionSchema), required=True)
    suggestions = fields.List(fields.String(), required=True)
    specification = fields.Dict(allow_none=True, metadata=SPEC_REF)
    source = fields.String(allow_none=True, metadata={"description": "model or heuristics"})
    state = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class ConversationSchema(Output):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": list(STATES)})
    source = fields.String(required=True, metadata={"description": "model or heuristics"})
    bot_id = fields.UUID(allow_none=True)
    creator_type = fields.String(required=True)
    created_by = fields.UUID(allow_none=True)
    turns = fields.Integer(required=True, metadata={"description": "how many turns"})
    step = fields.String(allow_none=True, metadata={"description": "the running step"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ConversationDetailSchema(ConversationSchema):
    specification = fields.Dict(required=True, metadata=SPEC_REF)
    questions = fields.List(fields.Nested(BuilderQuestionSchema), required=True,
                            metadata={"description": "the questions still open"})
    running = fields.Boolean(required=True)
    job_id = fields.Integer(allow_none=True)
    progress = fields.List(fields.Dict(), required=True)
    report = fields.Dict(allow_none=True, metadata={"description": "the last build report"})
    error = fields.String(allow_none=True)
    accepted_version = fields.Integer(allow_none=True)
    turns = fields.List(fields.Nested(BuilderTurnSchema), required=True,  # type: ignore[assignment]
                        metadata={"description": "every turn, oldest first"})


class AssistantTurnSchema(BuilderTurnSchema):
    conversation_id = fields.UUID(required=True)


class BuilderAcceptedSchema(Output):
    conversation_id = fields.UUID(required=True)
    bot_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    schedule = fields.Dict(allow_none=True)
    status = fields.String(required=True, metadata={
        "description": "the bot's status: active (a refined bot that was paused or archived "
                       "stays so)"})


ConversationPageSchema = page_of(ConversationSchema, "ConversationPage")


def _detail(conversation_id: uuid.UUID) -> dict[str, Any]:
    return conversations.detail(db.session, conversation_id)


@blp.route("/conversations", methods=["POST"])
@requires(Permission.USE_BUILDER)
@blp.arguments(BuilderStartSchema)
@blp.response(201, AssistantTurnSchema)
def start(data):
    """Start a conversation (with ``bot_id``: refine that bot); returns the assistant's first
    turn with the specification, its questions and suggestions."""
    principal = current_principal()
    prepared = conversations.prepare_start(db.session, principal, message=data.get("message"),
                                           bot_id=data.get("bot_id"))
    transaction.end()  # the turn calls a model: hold no connection meanwhile
    reply = clarify.respond(prepared.context)
    turn = conversations.record(db.session, principal, prepared, reply)
    return {**turn, "conversation_id": prepared.context.conversation_id}


@blp.route("/conversations", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(ConversationListArgs, location="query")
@blp.response(200, ConversationPageSchema)
def list_conversations(args):
    """The workspace's conversations, newest first."""
    page = PageRequest(args.pop("page"), args.pop("page_size"))
    return conversations.list_conversations(
        db.session, page, state=args.get("state"),
        mine_of=current_principal() if args["mine"] else None)


@blp.route("/conversations/<uuid:conversation_id>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, ConversationDetailSchema)
def get_conversation(conversation_id):
    """One conversation: every turn, the specification, the state, the running step and its
    progress, the last build report."""
    return _detail(conversation_id)


@blp.route("/conversations/<uuid:conversation_id>", methods=["DELETE"])
@requires(Permission.USE_BUILDER)
@blp.response(204)
def delete_conversation(conversation_id):
    """Delete a conversation and its turns."""
    conversations.remove(db.session, current_principal(), conversation_id)


@blp.route("/conversations/<uuid:conversation_id>/messages", methods=["POST"])
@requires(Permission.USE_BUILDER)
@blp.arguments(BuilderMessageSchema)
@blp.response(201, AssistantTurnSchema)
def add_message(data, conversation_id):
    """Add the user's turn (``content`` and ``answers`` by question id); returns the
    assistant's turn. "use defaults" or "go ahead" accepts the stated defaults."""
    principal = current_principal()
    if not data["content"].strip() and not data["answers"]:
        raise Invalid("give content or answers", errors={"json": {"content": [
            "give content or answers"]}})
    prepared = conversations.prepare_message(db.session, principal, conversation_id,
                                             content=data["content"], answers=data["answers"])
    transaction.end()  # the turn calls a model: hold no connection meanwhile
    reply = clarify.respond(prepared.context)
    turn = conversations.record(db.session, principal, prepared, reply)
    return {**turn, "conversation_id": conversation_id}


@blp.route("/conversations/<uuid:conversation_id>/generate", methods=["POST"])
@requires(Permission.USE_BUILDER)
@blp.response(202, ConversationDetailSchema)
def generate(conversation_id):
    """Queue the generation of the bot (a job); follow it on ``GET`` or ``/events``."""
    builds.generate(db.session, current_principal(), conversation_id)
    return _detail(conversation_id)


@blp.route("/conversations/<uuid:conversation_id>/accept", methods=["POST"])
@requires(Permission.USE_BUILDER)
@blp.arguments(BuilderAcceptSchema)
@blp.response(201, BuilderAcceptedSchema)
def accept(data, conversation_id):
    """Create the bot (or a new version of the refined bot) from the generated files, with
    its settings and schedule from config.yaml."""
    return builds.accept(db.session, current_principal(), conversation_id,
                         name=data.get("name"),
                         platform_network=runtime.of(current_app).settings.allow_bot_network)


@blp.route("/conversations/<uuid:conversation_id>/events", methods=["GET"])
@requires(Permission.VIEW_BOTS)
def events(conversation_id):
    """The generation's progress as Server-Sent Events: every stored ``progress`` event (from
    ``Last-Event-ID`` on), then new ones as they happen, then ``done`` with the state. A stream
    lives at most ``CODEX32_BUILDER_EVENTS_MAX_SECONDS`` and then ends with ``reconnect``;
    events are stored, so a client that reconnects with ``Last-Event-ID`` loses nothing."""
    return progress_events(conversation_id)


def progress_events(conversation_id: uuid.UUID) -> Response:
    """The conversation's progress stream for the current principal (404 for another
    workspace's conversation); the console's build panel follows the same stream."""
    conversations.get(db.session, conversation_id)  # 404 for another workspace's
    workspace_id = str(current_principal().workspace_id)
    after = _last_event_id()
    transaction.end()  # the stream reads in its own short sessions
    openings.bound_writes()  # a client that stops reading cannot hold the worker's thread
    settings = runtime.current().settings
    stream = _stream(_feed(), workspace_id, conversation_id, after,
                     lifetime=settings.builder_events_max_seconds,
                     heartbeat=settings.builder_events_heartbeat_seconds)
    return Response(stream_with_context(stream), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _last_event_id() -> int:
    given = request.headers.get("Last-Event-ID") or request.args.get("after") or "0"
    # isdecimal, not isdigit: "²" is a digit that int() refuses; non-ASCII digits are no id
    return int(given) if given.isascii() and given.isdecimal() and len(given) < 10 else 0


def _feed() -> notifications.Feed:
    """This app's listener on the builds' progress channel (one per process and app)."""
    with _FEED_LOCK:
        feed = current_app.extensions.get(FEED_KEY)
        if feed is None:
            url = runtime.current().engine.url.render_as_string(hide_password=False)
            feed = current_app.extensions[FEED_KEY] = notifications.Feed(
                url, builds.PROGRESS_CHANNEL)
    return feed


def _stream(feed: notifications.Feed, workspace_id: str, conversation_id: uuid.UUID,
            sent: int, *, lifetime: float, heartbeat: float) -> Iterator[str]:
    """Read the conversation, send what is new, sleep until its NOTIFY (or a heartbeat),
    again; end with ``done`` when no build runs, or ``reconnect`` after ``lifetime``. Without a
    watching slot (:func:`codex32.api.openings.watching`) it reads once and ends at once."""
    with openings.watching() as admitted:
        yield f"retry: {RECONNECT_MILLISECONDS if admitted else BUSY_RECONNECT_MILLISECONDS}\n\n"
        yield from _watch(feed, workspace_id, conversation_id, sent,
                          lifetime=lifetime if admitted else 0.0, heartbeat=heartbeat)


def _watch(feed: notifications.Feed, workspace_id: str, conversation_id: uuid.UUID,
           sent: int, *, lifetime: float, heartbeat: float) -> Iterator[str]:
    sessions = runtime.current().sessions
    key = str(conversation_id)
    deadline = time.monotonic() + lifetime
    with feed.watching(key):
        quiet_since = time.monotonic()
        while True:
            mark = feed.mark(key)
            with sessions() as session, tenancy.bound(session, workspace_id):
                try:
                    conversation = conversations.get(session, conversation_id)
                except NotFound:
                    yield _event("error", {"message": "conversation not found"}, None)
                    return
                progress, step = list(conversation.progress or []), conversation.step
                state, error = conversation.state, conversation.error
            for index, entry in enumerate(progress[sent:], sent + 1):
                yield _event(str(entry.get("event") or "progress"), entry, index)
                quiet_since = time.monotonic()
            sent = max(sent, len(progress))
            if step is None:
                yield _event("done", {"state": state, "error": error, "running": False}, None)
                return
            now = time.monotonic()
            if now >= deadline:
                yield _event("reconnect", {"last_event_id": sent, "state": state,
                                           "running": True}, None)
                return
            if now - quiet_since >= heartbeat:
                yield ": heartbeat\n\n"
                quiet_since = now
            feed.wait(key, mark, min(deadline, quiet_since + heartbeat) - now)


def _event(name: str, data: dict[str, Any], ident: int | None) -> str:
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, default=str)}\n\n"
