"""The Mutation root: the common writes, each the twin of a REST endpoint.

A mutation checks the same permission as its twin, validates its input with the twin's own
marshmallow schema (so the limits are the same), calls the same service, which writes the same
audit row. Each field, its answer included, runs in a savepoint (:mod:`.executor`): a field
that fails writes nothing, and the fields before it stand, as separate REST calls would.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from flask import current_app
from marshmallow import Schema, ValidationError
from strawberry.scalars import JSON
from strawberry.types import Info

from codex32 import runtime
from codex32.api import transaction
from codex32.api.graphql import types
from codex32.api.graphql.context import context_of
from codex32.api.v1.bots import BotCreateSchema, BotUpdateSchema
from codex32.api.v1.executions import ExecutionCreateSchema
from codex32.api.v1.members import InvitationCreateSchema, RoleSchema, limit_invitation_mail
from codex32.api.v1.schedules import ScheduleInputSchema
from codex32.api.v1.versions import RollbackSchema, VersionCreateSchema
from codex32.auth.rbac import Permission
from codex32.errors import Invalid
from codex32.services import bots, executions, schedules, versions
from codex32.services.mail import Mailer
from tenants import invitations, members

_SCHEMAS: dict[type[Schema], Schema] = {}


def parsed(schema: type[Schema], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (the arguments a client set) loaded by the REST twin's schema; 422 else."""
    instance = _SCHEMAS.setdefault(schema, schema())
    try:
        return instance.load({k: v for k, v in given.items() if v is not strawberry.UNSET})
    except ValidationError as exc:
        field, problems = next(iter(exc.normalized_messages().items()))
        first = problems[0] if isinstance(problems, list) and problems else problems
        raise Invalid(f"{field}: {first}", errors={"arguments": exc.normalized_messages()}
                      ) from exc


def _given(value: Any) -> dict[str, Any]:
    """The fields of an input object the client set (``null`` kept, absent dropped)."""
    return {name: item for name, item in vars(value).items() if item is not strawberry.UNSET}


@strawberry.input
class CreateBotInput:
    name: str
    description: str | None = strawberry.UNSET
    code: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    message: str | None = strawberry.UNSET
    settings: JSON | None = strawberry.UNSET


@strawberry.input
class UpdateBotInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    code: str | None = strawberry.UNSET
    message: str | None = strawberry.UNSET
    settings: JSON | None = strawberry.UNSET


@strawberry.input
class ScheduleInput:
    cron: str
    timezone: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    input: JSON | None = strawberry.UNSET


@strawberry.type
class RunBotPayload:
    execution: types.Execution
    created: bool = strawberry.field(description="false: an earlier run with this "
                                                 "idempotency key, returned again")


@strawberry.type
class CancelExecutionPayload:
    execution: types.Execution
    ended: bool = strawberry.field(description="true: it was queued and is cancelled; false: "
                                               "its worker stops it within two seconds")


@strawberry.type
class Invitation:
    id: uuid.UUID
    email: str
    role: str
    expires_at: datetime


def _drop_nulls(data: dict[str, Any], *names: str) -> dict[str, Any]:
    """``data`` without ``null`` for ``names``: GraphQL's null there means 'not given'."""
    return {k: v for k, v in data.items() if not (k in names and v is None)}


@strawberry.type
class Mutation:
    @strawberry.mutation(description="create a bot from code (twin of POST /api/v1/bots)")
    def create_bot(self, info: Info, input: CreateBotInput) -> types.Bot | None:
        ctx = context_of(info)
        with ctx.writing(Permission.CREATE_BOT) as principal:
            data = parsed(BotCreateSchema, _drop_nulls(_given(input), "description", "code",
                                                        "status", "message", "settings"))
            bot = bots.create(ctx.session, principal, **data)
        return types.bot_node(info, bot)

    @strawberry.mutation(description="change a bot; new code becomes a new version")
    def update_bot(self, info: Info, id: uuid.UUID, input: UpdateBotInput) -> types.Bot | None:
        ctx = context_of(info)
        with ctx.writing(Permission.UPDATE_BOT) as principal:
            data = parsed(BotUpdateSchema, _drop_nulls(_given(input), "name", "description",
                                                        "status", "code", "message", "settings"))
            bot = bots.update(ctx.session, principal, id, data)
        return types.bot_node(info, bot)

    @strawberry.mutation(description="delete a bot with its versions and executions; its id")
    def delete_bot(self, info: Info, id: uuid.UUID) -> uuid.UUID | None:
        ctx = context_of(info)
        with ctx.writing(Permission.DELETE_BOT) as principal:
            bots.remove(ctx.session, principal, id)
        return id

    @strawberry.mutation(description="add a version; it becomes the bot's current version")
    def create_version(self, info: Info, bot_id: uuid.UUID, code: str,
                       message: str | None = None) -> types.Version | None:
        ctx = context_of(info)
        with ctx.writing(Permission.UPDATE_BOT) as principal:
            data = parsed(VersionCreateSchema, _drop_nulls({"code": code, "message": message},
                                                           "message"))
            version = versions.create(ctx.session, principal, bot_id, data["code"],
                                      data["message"])
        return _version(info, version)

    @strawberry.mutation(description="add a new version carrying an older version's code")
    def rollback_bot(self, info: Info, bot_id: uuid.UUID, version: int) -> types.Version | None:
        ctx = context_of(info)
        with ctx.writing(Permission.UPDATE_BOT) as principal:
            data = parsed(RollbackSchema, {"version": version})
            created = versions.rollback(ctx.session, principal, bot_id, data["version"])
        return _version(info, created)

    @strawberry.mutation(description="queue a run of a bot; the same idempotency key (within "
                                     "the workspace) returns the first run instead")
    def run_bot(self, info: Info, bot_id: uuid.UUID, input: JSON | None = None,
                version: int | None = None,
                idempotency_key: str | None = None) -> RunBotPayload | None:
        ctx = context_of(info)
        with ctx.writing(Permission.EXECUTE_BOT) as principal:
            data = parsed(ExecutionCreateSchema, _drop_nulls({"input": input, "version": version},
                                                             "input", "version"))
            if idempotency_key is not None:
                executions.check_idempotency_key(idempotency_key, "idempotencyKey", "arguments")
            execution, created = executions.enqueue(
                ctx.session, principal, bot_id, input=data["input"],
                version=data.get("version"), idempotency_key=idempotency_key)
        return RunBotPayload(execution=types.execution_node(info, execution.column_values()),
                             created=created)

    @strawberry.mutation(description="cancel a run: a queued one at once, a running one "
                                     "within two seconds")
    def cancel_execution(self, info: Info, id: uuid.UUID) -> CancelExecutionPayload | None:
        ctx = context_of(info)
        with ctx.writing(Permission.EXECUTE_BOT) as principal:
            execution, ended = executions.cancel(ctx.session, principal, id)
        return CancelExecutionPayload(
            execution=types.execution_node(info, execution.column_values()), ended=ended)

    @strawberry.mutation(description="set the bot's schedule (replacing any)")
    def put_schedule(self, info: Info, bot_id: uuid.UUID,
                     input: ScheduleInput) -> types.Schedule | None:
        ctx = context_of(info)
        with ctx.writing(Permission.UPDATE_BOT) as principal:
            data = parsed(ScheduleInputSchema, _drop_nulls(_given(input), "timezone", "enabled",
                                                            "input"))
            schedule = schedules.put(ctx.session, principal, bot_id, **data)
        return types.Schedule.of(schedule)

    @strawberry.mutation(description="remove the bot's schedule; the bot's id")
    def delete_schedule(self, info: Info, bot_id: uuid.UUID) -> uuid.UUID | None:
        ctx = context_of(info)
        with ctx.writing(Permission.UPDATE_BOT) as principal:
            schedules.remove(ctx.session, principal, bot_id)
        return bot_id

    @strawberry.mutation(description="invite an email with a role; its token is mailed to "
                                     "that address only")
    def invite_member(self, info: Info, email: str, role: str) -> Invitation | None:
        ctx = context_of(info)
        with ctx.writing(Permission.MANAGE_USERS) as principal:
            data = parsed(InvitationCreateSchema, {"email": email, "role": role})
            limit_invitation_mail(principal.workspace_id, data["email"])
            issued = invitations.invite(ctx.session, principal, data["email"], data["role"])
        transaction.end()  # the invitation is stored before its token is mailed
        mailer = Mailer.from_settings(runtime.of(current_app).settings)
        mailer.send(invitations.invitation_message(issued, mailer.api_base))
        return Invitation(id=issued.id, email=issued.email, role=issued.role,
                          expires_at=issued.expires_at)

    @strawberry.mutation(description="withdraw an invitation not yet accepted (its token then "
                                     "works no more); the invitation's id")
    def withdraw_invitation(self, info: Info, id: uuid.UUID) -> uuid.UUID | None:
        ctx = context_of(info)
        with ctx.writing(Permission.MANAGE_USERS) as principal:
            invitations.withdraw(ctx.session, principal, id)
        return id

    @strawberry.mutation(description="give a member another role; the last admin cannot be "
                                     "demoted")
    def change_member_role(self, info: Info, user_id: uuid.UUID, role: str) -> types.Member | None:
        ctx = context_of(info)
        with ctx.writing(Permission.MANAGE_USERS) as principal:
            data = parsed(RoleSchema, {"role": role})
            member = members.change_role(ctx.session, principal, user_id, data["role"])
        return types.node_of(types.Member, member.__dict__)

    @strawberry.mutation(description="remove a member; the last admin cannot be removed; "
                                     "the member's user id")
    def remove_member(self, info: Info, user_id: uuid.UUID) -> uuid.UUID | None:
        ctx = context_of(info)
        with ctx.writing(Permission.MANAGE_USERS) as principal:
            members.remove(ctx.session, principal, user_id)
        return user_id


def _version(info: Info, version: Any) -> types.Version | None:
    context_of(info).loaders.versions.add([version.id])
    return types.node_of(types.Version, version)
