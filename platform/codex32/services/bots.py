"""Bots: create, list, read, update, delete. Code changes go through versions.

A bot's code lives in its versions; ``current_version`` names the one that runs, and
:func:`add_version` appends one (the versions resource, :mod:`codex32.services.versions`,
builds on it). Every mutation writes exactly one audit row in the caller's transaction, which
the caller commits (docs/architecture.md, "Transactions").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, overload

from sqlalchemy import BindParameter, bindparam, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.db import rows
from codex32.db.models import Bot, BotExecution, BotVersion, Workspace
from codex32.errors import Conflict, Invalid, NotFound
from codex32.execution import queue
from codex32.observability.metrics import BOTS_CREATED
from codex32.plugins.interfaces import GeneratedBot
from codex32.services import audit, bot_settings, templates
from codex32.services.code import check_code
from codex32.services.knowledge import bot_passages
from codex32.services.pages import (
    KeysetRequest,
    ListQuery,
    Page,
    PageRequest,
    Slice,
    fetch,
    paged,
)

STATUSES = ("draft", "active", "paused", "archived")
# Statuses in which nothing runs on its own: no scheduled tick, no retry (a run asked for by
# hand still runs while paused; an archived bot refuses it).
RESTING = ("paused", "archived")
LIST_COLUMNS = (Bot.id, Bot.name, Bot.description, Bot.status, Bot.owner_id,
                Bot.current_version, Bot.created_at, Bot.updated_at)


def create(session: Session, principal: Principal, *, name: str, description: str = "",
           code: str | None = None, status: str = "draft", message: str = "",
           settings: dict[str, Any] | None = None, files: dict[str, str] | None = None,
           audit_changes: dict[str, Any] | None = None) -> Bot:
    """Create a bot, and its version 1 when ``code`` is given (compiled first)."""
    if code is not None:
        check_code(code)
    settings = _without_nulls(settings or {})
    if settings:
        bot_settings.check(session, settings)
    now = datetime.now(UTC)
    bot = Bot(workspace_id=principal.workspace_id, id=uuid.uuid4(), name=name,
              description=description, status=status, owner_id=principal.user_id,
              current_version=0 if code is None else 1, settings=settings or {},
              created_at=now, updated_at=now)
    changes: dict[str, Any] = {"name": name, "description": description, "status": status,
                               **({"settings": settings} if settings else {}),
                               **(audit_changes or {})}
    written: list[Bot | BotVersion] = [bot]
    if code is not None:
        written.append(new_version(principal, bot, 1, code, message or "Initial version", files))
        changes.update(version=1, **audit.code_summary(code))
    with _unique_name(name):
        rows.insert(session, *written, audit.entry(principal, "bot.create", "bot", bot.id,
                                                   changes))
    bot_passages.reindex_later(session, bot.workspace_id, bot.id)
    BOTS_CREATED.inc()
    return bot


def prepare_from_template(session: Session, principal: Principal, *, name: str,
                          template: str, generator: str | None = None,
                          parameters: dict[str, Any] | None = None,
                          description: str = "") -> templates.Generation:
    """Check the name is free and choose the template's generator; the caller ends its
    transaction, runs the generation and hands its result to :func:`create_from_template`."""
    if session.execute(select(Bot.id).where(Bot.name == name)).first():
        raise Conflict(f"a bot named '{name}' exists in this workspace")
    return templates.prepare(session, principal, template=template, generator=generator,
                             parameters=parameters or {}, name=name, description=description)


def create_from_template(session: Session, principal: Principal,
                         generated: GeneratedBot, *, name: str, template: str,
                         generator: str | None = None,
                         parameters: dict[str, Any] | None = None, description: str = "",
                         status: str = "draft", message: str = "",
                         settings: dict[str, Any] | None = None,
                         platform_network: bool) -> Bot:
    """Create a bot with the files ``generated`` from a template as version 1.

    What the generated bot needs (its ``requires``) becomes its settings' default: a bot that
    reaches other hosts gets ``network: true`` unless ``settings`` say otherwise, and is
    refused (422) when the platform (``platform_network``) or the workspace forbids it.
    """
    others = {path: text for path, text in generated.files.items()
              if path != generated.entrypoint}
    settings = _as_required(session, template, generated.requires, settings or {},
                            platform_network)
    return create(session, principal, name=name, description=description, code=generated.code,
                  status=status, message=message or f"Generated from template {template}",
                  settings=settings, files=others,
                  audit_changes={"template": template, "generator": generator,
                                 "parameters": parameters or {}})


def _as_required(session: Session, template: str, requires: dict[str, Any],
                 settings: dict[str, Any], platform_network: bool) -> dict[str, Any]:
    """``settings`` with the network on when the template's bot needs it and they are silent."""
    if not requires.get("network") or settings.get("network") is not None:
        return settings
    execution = (session.execute(select(Workspace.settings)).scalar() or {}).get("execution")
    if not platform_network:
        why = "this platform does not allow bots on the network (CODEX32_ALLOW_BOT_NETWORK)"
    elif (execution or {}).get("allow_network") is False:
        why = ("this workspace does not allow bots on the network "
               "(settings.execution.allow_network)")
    else:
        return {**settings, "network": True}
    raise Invalid(f"template '{template}' needs the network, and {why}; set settings.network "
                  "to false to create the bot anyway",
                  errors={"json": {"settings": {"network": [why]}}})


@overload
def list_bots(session: Session, page: PageRequest, *, status: str | None = None,
              q: str | None = None, with_settings: bool = False) -> Page: ...


@overload
def list_bots(session: Session, page: KeysetRequest, *, status: str | None = None,
              q: str | None = None, with_settings: bool = False) -> Slice: ...


def list_bots(session: Session, page: PageRequest | KeysetRequest, *,
              status: str | None = None, q: str | None = None,
              with_settings: bool = False) -> Page | Slice:
    """Bots of the bound workspace, newest first; ``q`` matches name or description;
    ``with_settings`` adds each bot's settings to its row."""
    params: dict[str, Any] = {}
    if status:
        params["status"] = status
    if q:
        params["pattern"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
    return fetch(session, page, _list_query(bool(status), bool(q), with_settings), params)


@cache
def _list_query(by_status: bool, by_text: bool, with_settings: bool) -> ListQuery:
    filters = []
    if by_status:
        filters.append(Bot.status == bindparam("status"))
    if by_text:
        pattern: BindParameter[str] = bindparam("pattern")
        filters.append(or_(Bot.name.ilike(pattern, escape="\\"),
                           Bot.description.ilike(pattern, escape="\\")))
    columns = (*LIST_COLUMNS, Bot.settings) if with_settings else LIST_COLUMNS
    return paged(columns, filters, (Bot.created_at.desc(), Bot.id))


def get(session: Session, bot_id: uuid.UUID, *, lock: bool = False) -> Bot:
    """The bot with this id in the bound workspace; another workspace's bot is 404 too."""
    query = select(Bot).where(Bot.id == bot_id)
    bot = session.execute(query.with_for_update() if lock else query).scalar()
    if bot is None:
        raise NotFound("bot not found")
    return bot


def new_version(principal: Principal, bot: Bot, number: int, code: str, message: str,
                files: dict[str, str] | None = None) -> BotVersion:
    """A version row numbered ``number`` for ``bot`` (not added to any session)."""
    return BotVersion(workspace_id=bot.workspace_id, id=uuid.uuid4(), bot_id=bot.id,
                      number=number, code=code, files=files or {}, message=message,
                      created_by=principal.user_id, created_at=datetime.now(UTC))


def add_version(session: Session, principal: Principal, bot: Bot, code: str,
                message: str, files: dict[str, str] | None = None) -> BotVersion:
    """Append a version to a bot the caller holds locked, and queue the bot's re-indexing;
    no audit row."""
    version = new_version(principal, bot, bot.current_version + 1, code, message, files)
    session.add(version)
    bot_passages.reindex_later(session, bot.workspace_id, bot.id)
    bot.current_version = version.number
    bot.updated_at = datetime.now(UTC)
    return version


def update(session: Session, principal: Principal, bot_id: uuid.UUID,
           changes: dict[str, Any]) -> Bot:
    """Change name, description, status or settings; new ``code`` becomes a new version (the
    current version's code, without other files, is no new code). An update that changes
    nothing is no mutation: no version, no audit row, no ``updated_at``."""
    bot = get(session, bot_id, lock=True)
    code = changes.pop("code", None)
    message = changes.pop("message", "") or ""
    if "settings" in changes:  # merged key by key; null removes a key
        changes["settings"] = _without_nulls({**bot.settings, **changes["settings"]})
        bot_settings.check(session, changes["settings"])
    if code is not None:
        check_code(code)
        if _is_current(session, bot, code):  # read before the changes (no autoflush of them)
            code = None
    recorded = audit.apply_changes(bot, changes)
    if not recorded and code is None:
        return bot
    if code is not None:
        version = add_version(session, principal, bot, code, message or "Updated code")
        recorded["version"] = version.number
        recorded.update(audit.code_summary(code))
    elif "name" in recorded or "description" in recorded:
        bot_passages.reindex_later(session, bot.workspace_id, bot.id)
    bot.updated_at = datetime.now(UTC)
    audit.record(session, principal, "bot.update", "bot", bot.id, recorded)
    with _unique_name(bot.name):
        session.flush()
    return bot


def _is_current(session: Session, bot: Bot, code: str) -> bool:
    """Whether a version of ``code`` (and no other file) would repeat the bot's current one."""
    if not bot.current_version:
        return False
    current = session.execute(select(BotVersion.code, BotVersion.files).where(
        BotVersion.bot_id == bot.id, BotVersion.number == bot.current_version)).one_or_none()
    return current is not None and current.code == code and not current.files


def remove(session: Session, principal: Principal, bot_id: uuid.UUID) -> None:
    """Delete a bot with its versions and executions. Its queued runs' jobs are cancelled
    and its running runs are stopped (their workers drop the outcome): once the executions
    are gone nobody could see or cancel them."""
    bot = get(session, bot_id, lock=True)
    active = [job_id for job_id in session.execute(select(BotExecution.job_id).where(
        BotExecution.bot_id == bot_id,
        BotExecution.status.in_(("queued", "running")))).scalars() if job_id is not None]
    for job_id in active:
        queue.cancel_job(session, job_id)
    bot_passages.forget_later(session, bot.workspace_id, bot.id)
    session.execute(delete(Bot).where(Bot.id == bot_id))
    audit.record(session, principal, "bot.delete", "bot", bot_id,
                 {"name": bot.name, "versions": bot.current_version,
                  "runs_stopped": len(active)})


def _without_nulls(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if value is not None}


@contextmanager
def _unique_name(name: str) -> Iterator[None]:
    """Answer 409 when the block breaks the per-workspace unique name (the caller's
    transaction is then failed: the request rolls it back)."""
    try:
        yield
    except IntegrityError as exc:
        if "uq_bots_name" in str(exc.orig):
            raise Conflict(f"a bot named '{name}' exists in this workspace") from exc
        raise
