"""Builder conversations: start one (or a refinement of a bot), add turns, read, list, delete.

A turn calls a model, so it is a prepared call (docs/architecture.md, "Transactions"): the
caller reads the conversation into a :class:`Prepared` in its transaction, ends it, runs
:func:`clarify.respond` and hands the :class:`clarify.Reply` to :func:`record` in a new one,
which refuses (409) when another turn was recorded meanwhile. A conversation belongs to its
creator: others read it (``view_bots``), only the creator, or an admin, writes it. Every
mutation is audited. No Flask here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, overload

import yaml
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.db.builder_models import BuilderConversation, BuilderTurn
from codex32.db.models import Bot, BotSchedule, BotVersion
from codex32.errors import Conflict, Forbidden, NotFound
from codex32.plugins.interfaces import Message
from codex32.services import audit
from codex32.services.builder import model_route
from codex32.services.builder import spec as specs
from codex32.services.builder.clarify import Context, Reply
from codex32.services.pages import (
    KeysetRequest,
    ListQuery,
    Page,
    PageRequest,
    Slice,
    fetch,
    paged,
)

LIST_COLUMNS = (BuilderConversation.id, BuilderConversation.title, BuilderConversation.state,
                BuilderConversation.source, BuilderConversation.bot_id,
                BuilderConversation.creator_type, BuilderConversation.created_by,
                BuilderConversation.turns, BuilderConversation.step,
                BuilderConversation.created_at, BuilderConversation.updated_at)
MAX_HISTORY_TURNS = 40  # the turns a model is shown (the specification carries the rest)


@dataclass(frozen=True)
class Prepared:
    """A turn ready to run: its context, and what :func:`record` checks and writes."""

    context: Context
    new: bool  # a new conversation (``bot_id`` is the bot it refines)
    bot_id: uuid.UUID | None = None
    title: str = ""


# --- reading -----------------------------------------------------------------------------


def get(session: Session, conversation_id: uuid.UUID, *, lock: bool = False
        ) -> BuilderConversation:
    """The conversation with this id in the bound workspace (another workspace's: 404)."""
    query = select(BuilderConversation).where(BuilderConversation.id == conversation_id)
    found = session.execute(query.with_for_update() if lock else query).scalar()
    if found is None:
        raise NotFound("conversation not found")
    return found


def detail(session: Session, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The conversation with all its turns, the specification, state, step and progress."""
    conversation = get(session, conversation_id)
    turns = session.execute(select(BuilderTurn).where(
        BuilderTurn.conversation_id == conversation_id).order_by(BuilderTurn.number)).scalars()
    return {**conversation.column_values(), "running": conversation.step is not None,
            "turns": [turn.column_values() for turn in turns],  # every turn, not the count
            "questions": open_questions(session, conversation)}


@overload
def list_conversations(session: Session, page: PageRequest, *, state: str | None = None,
                       mine_of: Principal | None = None) -> Page: ...


@overload
def list_conversations(session: Session, page: KeysetRequest, *, state: str | None = None,
                       mine_of: Principal | None = None) -> Slice: ...


def list_conversations(session: Session, page: PageRequest | KeysetRequest, *,
                       state: str | None = None,
                       mine_of: Principal | None = None) -> Page | Slice:
    """The workspace's conversations, newest first (``mine_of``: that creator's only)."""
    params: dict[str, Any] = {}
    if state:
        params["state"] = state
    if mine_of is not None:
        params["creator"] = mine_of.actor_id
    return fetch(session, page, _list_query(bool(state), mine_of is not None), params)


@cache
def _list_query(by_state: bool, by_creator: bool) -> ListQuery:
    filters = []
    if by_state:
        filters.append(BuilderConversation.state == bindparam("state"))
    if by_creator:
        filters.append(BuilderConversation.created_by == bindparam("creator"))
    return paged(LIST_COLUMNS, filters,
                 (BuilderConversation.created_at.desc(), BuilderConversation.id))


# --- writing -----------------------------------------------------------------------------


def check_writer(principal: Principal, conversation: BuilderConversation) -> None:
    """Only the creator (or an admin of the workspace) changes a conversation."""
    own = (conversation.creator_type == principal.actor_type
           and conversation.created_by == principal.actor_id)
    if not own and not principal.can(Permission.MANAGE_WORKSPACE):
        raise Forbidden("this conversation belongs to another member of the workspace")


def prepare_start(session: Session, principal: Principal, *, message: str | None,
                  bot_id: uuid.UUID | None) -> Prepared:
    """A new conversation's first turn; with ``bot_id`` its specification is that bot's."""
    base = specs.empty()
    title = (message or "").strip().split("\n", 1)[0][:200]
    if bot_id is not None:
        if not principal.can(Permission.UPDATE_BOT):
            raise Forbidden("refining a bot needs the update_bot permission")
        base = bot_specification(session, bot_id)
        title = title or f"Refine {base['name']}"
    context = Context(workspace_id=str(principal.workspace_id),
                      conversation_id=str(uuid.uuid4()), turn=2, specification=base,
                      settled={}, history=[], open_questions=[], content=message or "",
                      user_id=principal.user_id, api_key_id=principal.api_key_id,
                      route=model_route.inspect(session, str(principal.workspace_id)))
    return Prepared(context=context, new=True, bot_id=bot_id, title=title or "New bot")


def prepare_message(session: Session, principal: Principal, conversation_id: uuid.UUID, *,
                    content: str, answers: dict[str, Any] | None) -> Prepared:
    """The next turn of a conversation the principal may write, with its history."""
    conversation = get(session, conversation_id)
    check_writer(principal, conversation)
    if conversation.state == "accepted":
        raise Conflict("this conversation was accepted; start a new one with bot_id to "
                       "refine the bot")
    if conversation.step is not None:
        raise Conflict("a generation is running; wait for it before changing the "
                       "specification")
    turns = list(session.execute(select(BuilderTurn).where(
        BuilderTurn.conversation_id == conversation_id).order_by(BuilderTurn.number)).scalars())
    history = [Message(t.role, t.content) for t in turns[-MAX_HISTORY_TURNS:] if t.content]
    context = Context(workspace_id=str(principal.workspace_id),
                      conversation_id=str(conversation.id), turn=conversation.turns + 2,
                      specification=conversation.specification,
                      settled=dict(conversation.settled), history=history,
                      open_questions=_last_questions(turns), content=content,
                      answers=dict(answers or {}), user_id=principal.user_id,
                      api_key_id=principal.api_key_id,
                      route=model_route.inspect(session, str(principal.workspace_id)))
    return Prepared(context=context, new=False)


def record(session: Session, principal: Principal, prepared: Prepared, reply: Reply
           ) -> dict[str, Any]:
    """Write the user's turn and the assistant's reply; returns the assistant's turn."""
    context, now = prepared.context, datetime.now(UTC)
    conversation_id = uuid.UUID(context.conversation_id)
    if prepared.new:
        if prepared.bot_id is not None and session.execute(
                select(Bot.id).where(Bot.id == prepared.bot_id)).first() is None:
            raise NotFound("bot not found")  # deleted while the turn was answered
        conversation = BuilderConversation(
            workspace_id=principal.workspace_id, id=conversation_id,
            creator_type=principal.actor_type, created_by=principal.actor_id,
            bot_id=prepared.bot_id, title=prepared.title, turns=0, progress=[],
            created_at=now)
        session.add(conversation)
        session.flush()  # before its turns, which reference it
        action = "builder.conversation.create"
    else:
        conversation = get(session, conversation_id, lock=True)
        if conversation.state == "accepted":  # accepted while this turn was answered
            raise Conflict("this conversation was accepted; start a new one with bot_id to "
                           "refine the bot")
        if conversation.turns + 2 != context.turn or conversation.step is not None:
            raise Conflict("the conversation changed while this turn was answered; send it "
                           "again")
        action = "builder.conversation.message"
    conversation.specification, conversation.settled = reply.specification, reply.settled
    conversation.source, conversation.updated_at = reply.source, now
    conversation.state = reply.state
    turns = []
    if context.content or context.answers:
        turns.append(BuilderTurn(role="user", content=reply.user_text if context.answers
                                 else context.content, answers=context.answers))
    turns.append(BuilderTurn(role="assistant", content=reply.message,
                             questions=reply.questions, suggestions=reply.suggestions,
                             specification=reply.specification, source=reply.source,
                             state=reply.state))
    for turn in turns:
        conversation.turns += 1
        turn.workspace_id, turn.id, turn.number = (principal.workspace_id, uuid.uuid4(),
                                                   conversation.turns)
        turn.conversation_id, turn.created_at = conversation_id, now
        turn.answers = turn.answers or {}
        session.add(turn)
    audit.record(session, principal, action, "builder_conversation", conversation_id,
                 {"state": conversation.state, "source": reply.source,
                  "questions": len(reply.questions), "answers": sorted(context.answers),
                  **({"bot_id": str(prepared.bot_id)} if prepared.bot_id else {})})
    session.flush()
    return turns[-1].column_values()


def remove(session: Session, principal: Principal, conversation_id: uuid.UUID) -> None:
    """Delete a conversation with its turns (a running generation finds it gone)."""
    conversation = get(session, conversation_id, lock=True)
    check_writer(principal, conversation)
    session.execute(delete(BuilderConversation).where(
        BuilderConversation.id == conversation_id))
    audit.record(session, principal, "builder.conversation.delete", "builder_conversation",
                 conversation_id, {"title": conversation.title, "state": conversation.state})


# --- refining a bot ----------------------------------------------------------------------


def bot_specification(session: Session, bot_id: uuid.UUID) -> dict[str, Any]:
    """A specification of an existing bot, from its settings, schedule and config.yaml."""
    bot = session.execute(select(Bot).where(Bot.id == bot_id)).scalar()
    if bot is None:
        raise NotFound("bot not found")
    found: dict[str, Any] = {"name": bot.name[:200],
                             "purpose": bot.description[:2000] or f"What {bot.name} does now",
                             "trigger": {"type": "manual"}}
    schedule = session.get(BotSchedule, (bot.workspace_id, bot.id))
    if schedule is not None:
        found["trigger"] = {"type": "schedule", "cron": schedule.cron,
                            "timezone": schedule.timezone}
    settings = bot.settings or {}
    limits = {key: settings[key] for key in ("timeout_seconds", "memory_mb")
              if isinstance(settings.get(key), int)}
    if limits:
        found["limits"] = limits
    if settings.get("max_retries"):
        found["error_handling"] = {"retries": min(int(settings["max_retries"]), 10)}
    if settings.get("network"):
        found["network"] = {"needed": True}
    config = _config_of(session, bot)
    if isinstance(config.get("template"), str):
        found["template"] = config["template"][:100]
    if isinstance(config.get("parameters"), dict):
        found["parameters"] = config["parameters"]
    return found if not specs.errors(found) else {**specs.empty(), "name": found["name"]}


def previous_files(session: Session, bot_id: uuid.UUID) -> dict[str, str] | None:
    """The current version's files of a bot (``bot.py`` and the rest), or None."""
    row = session.execute(select(BotVersion.code, BotVersion.files).join(
        Bot, (Bot.id == BotVersion.bot_id) & (Bot.current_version == BotVersion.number))
        .where(Bot.id == bot_id)).first()
    if row is None:
        return None
    return {**(row.files or {}), "bot.py": row.code}


def _config_of(session: Session, bot: Bot) -> dict[str, Any]:
    files = previous_files(session, bot.id) or {}
    try:
        config = yaml.safe_load(files.get("config.yaml") or "") or {}
    except yaml.YAMLError:
        return {}
    return config if isinstance(config, dict) else {}


def _last_questions(turns: list[BuilderTurn]) -> list[dict[str, Any]]:
    for turn in reversed(turns):
        if turn.role == "assistant":
            return list(turn.questions or [])
    return []


def open_questions(session: Session, conversation: BuilderConversation
                   ) -> list[dict[str, Any]]:
    """The questions of the conversation's last assistant turn."""
    found = session.execute(select(BuilderTurn.questions).where(
        BuilderTurn.conversation_id == conversation.id, BuilderTurn.role == "assistant")
        .order_by(BuilderTurn.number.desc()).limit(1)).scalar()
    return list(found or [])
