"""Per-parent batches: the reads of a client that asks for the children of many parents at
once (GraphQL's bots with their versions, executions and schedules).

A batch reads the children of many parents in one statement, with at most ``first`` per
parent, as :class:`~codex32.services.pages.Slice` pages whose ``next_key`` continues a parent's
list. Top-level lists are the services' own (``list_bots``, ``list_executions``,
``list_conversations`` with a :class:`~codex32.services.pages.KeysetRequest`). Everything runs
under the request's bound workspace (row-level security): another workspace's ids simply find
nothing. No Flask here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, select
from sqlalchemy.orm import Session

from codex32.db.models import Bot, BotExecution, BotSchedule, BotVersion
from codex32.services import bots, executions, pages
from codex32.services.pages import Slice

Position = tuple[datetime, uuid.UUID]

EXECUTION_COLUMNS = tuple(attribute.class_attribute
                          for attribute in inspect(BotExecution).column_attrs
                          if attribute.key not in executions.LISTED_WITHOUT)
VERSION_COLUMNS = (BotVersion.id, BotVersion.bot_id, BotVersion.number, BotVersion.message,
                   BotVersion.created_by, BotVersion.created_at)


def _per_parent(session: Session, columns: Sequence[Any], parent: Any,
                parents: Iterable[uuid.UUID], order: Sequence[Any], sort_key: Sequence[Any],
                filters: list[ColumnElement[bool]], first: int) -> dict[uuid.UUID, Slice]:
    """At most ``first`` rows per parent in ``order`` (whose columns are ``sort_key``), for
    every parent in one statement."""
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
    return {key: Slice(items=rows[:first], next_key=(
                tuple(rows[first - 1][column.key] for column in sort_key)
                if len(rows) > first else None))
            for key, rows in grouped.items()}


def versions_of(session: Session, bot_ids: Iterable[uuid.UUID], first: int,
                before_number: int | None = None) -> dict[uuid.UUID, Slice]:
    """Each bot's versions, newest first, without their code (one statement)."""
    filters = [] if before_number is None else [BotVersion.number < before_number]
    return _per_parent(session, VERSION_COLUMNS, BotVersion.bot_id, bot_ids,
                       (BotVersion.number.desc(),), (BotVersion.number,), filters, first)


def executions_of(session: Session, bot_ids: Iterable[uuid.UUID], first: int,
                  after: Position | None = None,
                  status: str | None = None) -> dict[uuid.UUID, Slice]:
    """Each bot's executions, newest first, without logs, input and result (one statement)."""
    filters: list[ColumnElement[bool]] = []
    if status:
        filters.append(BotExecution.status == status)
    if after is not None:
        filters.append(pages.after([(BotExecution.queued_at, True), (BotExecution.id, False)],
                                   after))
    return _per_parent(session, EXECUTION_COLUMNS, BotExecution.bot_id, bot_ids,
                       (BotExecution.queued_at.desc(), BotExecution.id),
                       (BotExecution.queued_at, BotExecution.id), filters, first)


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
