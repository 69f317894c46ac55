"""Cursor pages and per-parent batches: the reads of clients that page by cursor (GraphQL).

A cursor page is keyset pagination over a list's own order (newest first, then id), so a page
stays stable while rows are inserted ahead of it; a batch reads the children of many parents
(the versions or executions of many bots) in one statement, with at most ``first`` per parent.
Everything runs under the request's bound workspace (row-level security): another
workspace's ids simply find nothing. The lists filter exactly like their offset-paged twins
in :mod:`codex32.services.bots`, :mod:`~codex32.services.executions` and
:mod:`~codex32.services.builder.conversations`. No Flask here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, inspect, or_, select
from sqlalchemy.orm import Session

from codex32.db.builder_models import BuilderConversation
from codex32.db.models import Bot, BotExecution, BotSchedule, BotVersion
from codex32.services import bots, executions
from codex32.services.builder.conversations import LIST_COLUMNS as CONVERSATION_COLUMNS

Position = tuple[datetime, uuid.UUID]

EXECUTION_COLUMNS = tuple(attribute.class_attribute
                          for attribute in inspect(BotExecution).column_attrs
                          if attribute.key not in executions.LISTED_WITHOUT)
VERSION_COLUMNS = (BotVersion.id, BotVersion.bot_id, BotVersion.number, BotVersion.message,
                   BotVersion.created_by, BotVersion.created_at)


@dataclass(frozen=True)
class Slice:
    """Up to ``first`` rows after a position, and whether more follow."""

    items: list[dict[str, Any]]
    has_next: bool


def _newest_first(session: Session, columns: Sequence[Any], stamp: Any, ident: Any,
                  filters: list[ColumnElement[bool]], first: int,
                  after: Position | None) -> Slice:
    if after is not None:
        filters = [*filters, or_(stamp < after[0], and_(stamp == after[0], ident > after[1]))]
    query = (select(*columns).where(*filters).order_by(stamp.desc(), ident)
             .limit(first + 1))
    found = [dict(row) for row in session.execute(query).mappings()]
    return Slice(items=found[:first], has_next=len(found) > first)


def bot_slice(session: Session, first: int, after: Position | None, *,
              status: str | None = None, q: str | None = None) -> Slice:
    """Bots of the bound workspace, newest first; ``q`` matches name or description."""
    filters: list[ColumnElement[bool]] = []
    if status:
        filters.append(Bot.status == status)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(or_(Bot.name.ilike(pattern, escape="\\"),
                           Bot.description.ilike(pattern, escape="\\")))
    return _newest_first(session, (*bots.LIST_COLUMNS, Bot.settings), Bot.created_at, Bot.id,
                         filters, first, after)


def execution_slice(session: Session, first: int, after: Position | None, *,
                    bot_id: uuid.UUID | None = None, status: str | None = None,
                    trigger: str | None = None) -> Slice:
    """Executions of the bound workspace, newest first, without logs, input and result."""
    filters = [getattr(BotExecution, name) == value for name, value in (
        ("bot_id", bot_id), ("status", status), ("trigger", trigger)) if value]
    return _newest_first(session, EXECUTION_COLUMNS, BotExecution.queued_at, BotExecution.id,
                         filters, first, after)


def conversation_slice(session: Session, first: int, after: Position | None, *,
                       state: str | None = None, creator: uuid.UUID | None = None) -> Slice:
    """Builder conversations of the bound workspace, newest first."""
    filters: list[ColumnElement[bool]] = []
    if state:
        filters.append(BuilderConversation.state == state)
    if creator is not None:
        filters.append(BuilderConversation.created_by == creator)
    return _newest_first(session, CONVERSATION_COLUMNS, BuilderConversation.created_at,
                         BuilderConversation.id, filters, first, after)


def _per_parent(session: Session, columns: Sequence[Any], parent: Any,
                parents: Iterable[uuid.UUID], order: Sequence[Any],
                filters: list[ColumnElement[bool]], first: int) -> dict[uuid.UUID, Slice]:
    """At most ``first`` rows per parent in ``order``, for every parent in one statement."""
    wanted = list(dict.fromkeys(parents))
    if not wanted:
        return {}
    rank = func.row_number().over(partition_by=parent, order_by=order).label("rank")
    ranked = select(*columns, rank).where(parent.in_(wanted), *filters).subquery()
    query = (select(*[ranked.c[column.key] for column in columns])
             .where(ranked.c.rank <= first + 1).order_by(ranked.c.rank))
    grouped: dict[uuid.UUID, list[dict[str, Any]]] = {key: [] for key in wanted}
    for row in session.execute(query).mappings():
        grouped[row[parent.key]].append(dict(row))
    return {key: Slice(items=rows[:first], has_next=len(rows) > first)
            for key, rows in grouped.items()}


def versions_of(session: Session, bot_ids: Iterable[uuid.UUID], first: int,
                before_number: int | None = None) -> dict[uuid.UUID, Slice]:
    """Each bot's versions, newest first, without their code (one statement)."""
    filters = [] if before_number is None else [BotVersion.number < before_number]
    return _per_parent(session, VERSION_COLUMNS, BotVersion.bot_id, bot_ids,
                       (BotVersion.number.desc(),), filters, first)


def executions_of(session: Session, bot_ids: Iterable[uuid.UUID], first: int,
                  after: Position | None = None,
                  status: str | None = None) -> dict[uuid.UUID, Slice]:
    """Each bot's executions, newest first, without logs, input and result (one statement)."""
    filters: list[ColumnElement[bool]] = []
    if status:
        filters.append(BotExecution.status == status)
    if after is not None:
        filters.append(or_(BotExecution.queued_at < after[0],
                           and_(BotExecution.queued_at == after[0],
                                BotExecution.id > after[1])))
    return _per_parent(session, EXECUTION_COLUMNS, BotExecution.bot_id, bot_ids,
                       (BotExecution.queued_at.desc(), BotExecution.id), filters, first)


def schedules_of(session: Session, bot_ids: Iterable[uuid.UUID]
                 ) -> dict[uuid.UUID, BotSchedule]:
    """The schedules of these bots, by bot (bots without one are absent)."""
    wanted = list(dict.fromkeys(bot_ids))
    if not wanted:
        return {}
    found = session.execute(select(BotSchedule).where(BotSchedule.bot_id.in_(wanted)))
    return {schedule.bot_id: schedule for schedule in found.scalars()}


def version_code_of(session: Session, version_ids: Iterable[uuid.UUID]
                    ) -> dict[uuid.UUID, dict[str, Any]]:
    """The code and files of these versions, by version id."""
    wanted = list(dict.fromkeys(version_ids))
    if not wanted:
        return {}
    query = select(BotVersion.id, BotVersion.code, BotVersion.files).where(
        BotVersion.id.in_(wanted))
    return {row["id"]: dict(row) for row in session.execute(query).mappings()}


def execution_details_of(session: Session, execution_ids: Iterable[uuid.UUID]
                         ) -> dict[uuid.UUID, dict[str, Any]]:
    """The input, result and logs of these executions, and the attempt that retried each."""
    wanted = list(dict.fromkeys(execution_ids))
    if not wanted:
        return {}
    query = select(BotExecution.id, BotExecution.input, BotExecution.result,
                   BotExecution.logs, BotExecution.logs_truncated).where(
        BotExecution.id.in_(wanted))
    found = {row["id"]: {**row, "retried_by": None}
             for row in session.execute(query).mappings()}
    retries = select(BotExecution.retry_of, BotExecution.id).where(
        BotExecution.retry_of.in_(wanted))
    for retry_of, retry_id in session.execute(retries):
        if retry_of in found:
            found[retry_of]["retried_by"] = retry_id
    return found


def bots_of(session: Session, bot_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """These bots (of the bound workspace), by id."""
    wanted = list(dict.fromkeys(bot_ids))
    if not wanted:
        return {}
    query = select(*bots.LIST_COLUMNS, Bot.settings).where(Bot.id.in_(wanted))
    return {row["id"]: dict(row) for row in session.execute(query).mappings()}
