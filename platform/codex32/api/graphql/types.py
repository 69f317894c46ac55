"""GraphQL object types of the workspace and its bots: what a client reads. Each is built from
a service's row; the children of a bot (versions, executions, schedule) and the heavy columns
of a version or an execution come through the request's batch loaders
(:mod:`codex32.api.graphql.loaders`). The AI core's types (usage, budgets, builder, search)
are in :mod:`codex32.api.graphql.ai_types`."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from codex32.api.graphql import pagination
from codex32.api.graphql.context import context_of
from codex32.api.graphql.pagination import Connection
from codex32.auth.rbac import Permission
from codex32.db.models import BotSchedule
from codex32.services import connections, schedules
from codex32.services.pages import Slice


def node_of(cls: type, row: Any, **extra: Any) -> Any:
    """An instance of the strawberry type ``cls`` from a row (a dict or an object)."""
    names = [name for name in _plain_fields(cls) if name not in extra]
    if isinstance(row, dict):
        return cls(**{name: row.get(name) for name in names}, **extra)
    return cls(**{name: getattr(row, name) for name in names}, **extra)


@cache
def _plain_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` set from a row (those without a resolver of their own)."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    return tuple(f.python_name for f in definition.fields if f.base_resolver is None)


@strawberry.type
class Workspace:
    id: uuid.UUID
    name: str
    slug: str
    settings: JSON
    created_at: datetime
    updated_at: datetime


@strawberry.type
class Member:
    user_id: uuid.UUID
    email: str
    role: str
    joined_at: datetime


@strawberry.type
class Schedule:
    bot_id: uuid.UUID
    cron: str
    timezone: str
    enabled: bool
    input: JSON
    next_run_at: datetime | None
    next_runs: list[datetime]
    last_run_at: datetime | None
    last_execution_id: uuid.UUID | None
    skipped_runs: int
    last_skipped_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schedule: BotSchedule) -> Schedule:
        return node_of(cls, schedule, next_runs=schedules.upcoming(schedule))


@strawberry.type
class Version:
    id: uuid.UUID
    bot_id: uuid.UUID
    number: int
    message: str
    created_by: uuid.UUID | None
    created_at: datetime

    @strawberry.field(description="the version's code (read in one batch for all versions)")
    def code(self, info: Info) -> str:
        return context_of(info).spend(_version_code(info, self.id)["code"])

    @strawberry.field(description="other generated files by path")
    def files(self, info: Info) -> JSON:
        return cast(JSON, context_of(info).spend(_version_code(info, self.id)["files"] or {}))


def _version_code(info: Info, version_id: uuid.UUID) -> dict[str, Any]:
    ctx = context_of(info)
    return ctx.loaders.get(("version_code",), ctx.loaders.versions,
                           lambda ids: connections.version_code_of(ctx.session, ids),
                           lambda: {"code": "", "files": {}}).load(version_id)


def versions_page(info: Info, found: Slice) -> Connection[Version]:
    context_of(info).loaders.versions.add(row["id"] for row in found.items)
    return pagination.connection(found, lambda row: node_of(Version, row),
                                 lambda row: pagination.number_cursor(row["number"]))


@strawberry.type
class Execution:
    id: uuid.UUID
    bot_id: uuid.UUID
    version: int
    status: str
    trigger: str
    attempt: int
    cancel_requested: bool
    retry_of: uuid.UUID | None
    scheduled_for: datetime | None
    error: JSON | None
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    cpu_seconds: float | None
    peak_memory_bytes: int | None

    @strawberry.field(description="the event the bot got")
    def input(self, info: Info) -> JSON:
        return cast(JSON, context_of(info).spend(_execution_detail(info, self.id).get("input")
                                                 or {}))

    @strawberry.field
    def result(self, info: Info) -> JSON | None:
        return context_of(info).spend(_execution_detail(info, self.id).get("result"))

    @strawberry.field(description="captured output, capped")
    def logs(self, info: Info) -> str:
        return context_of(info).spend(_execution_detail(info, self.id).get("logs") or "")

    @strawberry.field
    def logs_truncated(self, info: Info) -> bool:
        return bool(_execution_detail(info, self.id).get("logs_truncated"))

    @strawberry.field(description="the attempt that retried this one")
    def retried_by(self, info: Info) -> uuid.UUID | None:
        return _execution_detail(info, self.id).get("retried_by")

    @strawberry.field
    def bot(self, info: Info) -> Bot | None:
        ctx = context_of(info)
        row = ctx.loaders.get(("bot",), ctx.loaders.execution_bots,
                              lambda ids: connections.bots_of(ctx.session, ids)).load(self.bot_id)
        return bot_node(info, row) if row is not None else None


def _execution_detail(info: Info, execution_id: uuid.UUID) -> dict[str, Any]:
    ctx = context_of(info)
    return ctx.loaders.get(("execution_detail",), ctx.loaders.executions,
                           lambda ids: connections.execution_details_of(ctx.session, ids),
                           dict).load(execution_id)


def execution_node(info: Info, row: dict[str, Any]) -> Execution:
    """An execution from a listed row; its id and bot join the request's siblings."""
    loaders = context_of(info).loaders
    loaders.executions.add([row["id"]])
    loaders.execution_bots.add([row["bot_id"]])
    return node_of(Execution, row)


def executions_page(info: Info, found: Slice) -> Connection[Execution]:
    loaders = context_of(info).loaders
    loaders.executions.add(row["id"] for row in found.items)
    loaders.execution_bots.add(row["bot_id"] for row in found.items)
    return pagination.connection(found, lambda row: node_of(Execution, row),
                                 lambda row: pagination.position_cursor(row, "queued_at"))


@strawberry.type
class Bot:
    id: uuid.UUID
    name: str
    description: str
    status: str
    owner_id: uuid.UUID | None
    current_version: int
    settings: JSON
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="the bot's versions, newest first")
    def versions(self, info: Info, first: int | None = None,
                 after: str | None = None) -> Connection[Version]:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        size = pagination.size(first, ctx.settings.max_page_size)
        before = pagination.number(after)
        found = ctx.loaders.get(
            ("versions", size, before), ctx.loaders.bots,
            lambda ids: connections.versions_of(ctx.session, ids, size, before),
            lambda: Slice([], None), lambda found: _adopt_versions(info, found)).load(self.id)
        return versions_page(info, found)

    @strawberry.field(description="the bot's executions, newest first")
    def executions(self, info: Info, first: int | None = None, after: str | None = None,
                   status: str | None = None) -> Connection[Execution]:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        size = pagination.size(first, ctx.settings.max_page_size)
        start = pagination.position(after)
        found = ctx.loaders.get(
            ("executions", size, start, status), ctx.loaders.bots,
            lambda ids: connections.executions_of(ctx.session, ids, size, start, status),
            lambda: Slice([], None), lambda found: _adopt_executions(info, found)
        ).load(self.id)
        return executions_page(info, found)

    @strawberry.field(description="the bot's cron schedule, if it has one")
    def schedule(self, info: Info) -> Schedule | None:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        found = ctx.loaders.get(("schedule",), ctx.loaders.bots,
                                lambda ids: connections.schedules_of(ctx.session, ids)
                                ).load(self.id)
        return Schedule.of(found) if found is not None else None


def _adopt_versions(info: Info, found: dict[uuid.UUID, Slice]) -> None:
    """Make every version a batch read a sibling of the others (one read of their code)."""
    context_of(info).loaders.versions.add(
        row["id"] for page in found.values() for row in page.items)


def _adopt_executions(info: Info, found: dict[uuid.UUID, Slice]) -> None:
    """Make every execution a batch read a sibling of the others (one read of the details)."""
    loaders = context_of(info).loaders
    rows = [row for page in found.values() for row in page.items]
    loaders.executions.add(row["id"] for row in rows)
    loaders.execution_bots.add(row["bot_id"] for row in rows)


def bot_node(info: Info, row: Any) -> Bot:
    """A bot from a row or model; its id joins the request's sibling bots."""
    bot = node_of(Bot, row)
    context_of(info).loaders.bots.add([bot.id])
    return bot


def bots_page(info: Info, found: Slice) -> Connection[Bot]:
    context_of(info).loaders.bots.add(row["id"] for row in found.items)
    return pagination.connection(found, lambda row: node_of(Bot, row),
                                 lambda row: pagination.position_cursor(row, "created_at"))
