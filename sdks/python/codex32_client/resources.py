"""The v2 resources (``client.bots``, ``client.executions``, …): keyword arguments in, generated
models out, errors raised as typed exceptions. Each method is one call of the generated client
(``codex32_client.api_v2``); lists are ``Paginator``s over its keyset pages.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from codex32_client.api_v2 import AuthenticatedClient
from codex32_client.api_v2.api.api_keys import create_key, delete_key, get_key, list_keys
from codex32_client.api_v2.api.audit_logs import list_audit_logs
from codex32_client.api_v2.api.bots import create_bot, delete_bot, get_bot, list_bots, update_bot
from codex32_client.api_v2.api.executions import (
    cancel_execution,
    create_execution,
    get_execution,
    list_executions,
)
from codex32_client.api_v2.api.members import change_role, list_members, remove_member
from codex32_client.api_v2.api.schedules import delete_schedule, get_schedule, put_schedule
from codex32_client.api_v2.api.usage import get_usage
from codex32_client.api_v2.api.versions import (
    create_version,
    get_version,
    list_versions,
    rollback,
)
from codex32_client.api_v2.models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyList,
    AuditEntry,
    AuditList,
    Bot,
    BotCreate,
    BotDetail,
    BotList,
    BotUpdate,
    Execution,
    ExecutionCreate,
    ExecutionList,
    ExecutionSummary,
    GetBotExpandItem,
    GetExecutionExpandItem,
    ListBotsExpandItem,
    ListBotsStatus,
    ListExecutionsExpandItem,
    ListExecutionsStatus,
    ListExecutionsTrigger,
    Member,
    MemberList,
    MintedKey,
    Role,
    Rollback,
    Schedule,
    ScheduleInput,
    UsageReport,
    Version,
    VersionCreate,
    VersionList,
    VersionSummary,
)
from codex32_client.api_v2.types import UNSET, Unset
from codex32_client.errors import call, expect, expect_empty
from codex32_client.pagination import Paginator

Id = UUID | str


def uuid_of(value: Id) -> UUID:
    """An id as the generated operations take it."""
    return value if isinstance(value, UUID) else UUID(str(value))


def given(**fields: Any) -> dict[str, Any]:
    """The fields that were given (not None), as a generated model's ``from_dict`` takes them."""
    return {name: value for name, value in fields.items() if value is not None}


def opt(value: Any) -> Any:
    """An optional argument as the generated operations take it (None: ``UNSET``)."""
    return UNSET if value is None else value


class Resource:
    """One resource of the v2 API, calling the generated client ``api`` (``Codex32``'s here,
    ``AsyncCodex32``'s in ``codex32_client.aio``)."""

    def __init__(self, api: AuthenticatedClient) -> None:
        self.api = api


class Bots(Resource):
    """``/api/v2/bots``: the workspace's bots."""

    def list(self, *, status: str | None = None, q: str | None = None,
             expand: Sequence[str] = (), limit: int | None = None) -> Paginator[Bot]:
        """Every bot, newest first (pages fetched as you iterate)."""
        def page(cursor: str | None) -> BotList:
            return expect(call(list_bots.sync_detailed, client=self.api, cursor=opt(cursor),
                               limit=opt(limit),
                               status=ListBotsStatus(status) if status else UNSET, q=opt(q),
                               expand=[ListBotsExpandItem(e) for e in expand] or UNSET),
                          BotList)
        return Paginator(page)

    def create(self, name: str, *, description: str | None = None, code: str | None = None,
               status: str | None = None, template: str | None = None,
               parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None,
               message: str | None = None) -> BotDetail:
        body = BotCreate.from_dict(given(
            name=name, description=description, code=code, status=status, template=template,
            parameters=parameters, settings=settings, message=message))
        return expect(call(create_bot.sync_detailed, client=self.api, body=body), BotDetail)

    def get(self, bot_id: Id, *, expand: Sequence[str] = ()) -> BotDetail:
        return expect(call(get_bot.sync_detailed, uuid_of(bot_id), client=self.api,
                           expand=[GetBotExpandItem(e) for e in expand] or UNSET), BotDetail)

    def update(self, bot_id: Id, *, name: str | None = None, description: str | None = None,
               code: str | None = None, status: str | None = None,
               settings: dict[str, Any] | None = None, message: str | None = None) -> BotDetail:
        """Change the given fields; new ``code`` becomes a new version."""
        body = BotUpdate.from_dict(given(name=name, description=description, code=code,
                                          status=status, settings=settings, message=message))
        return expect(call(update_bot.sync_detailed, uuid_of(bot_id), client=self.api, body=body),
                      BotDetail)

    def delete(self, bot_id: Id) -> None:
        expect_empty(call(delete_bot.sync_detailed, uuid_of(bot_id), client=self.api))


class Versions(Resource):
    """``/api/v2/bots/{bot_id}/versions``: a bot's code history."""

    def list(self, bot_id: Id, *, limit: int | None = None) -> Paginator[VersionSummary]:
        def page(cursor: str | None) -> VersionList:
            return expect(call(list_versions.sync_detailed, uuid_of(bot_id), client=self.api,
                               cursor=opt(cursor), limit=opt(limit)), VersionList)
        return Paginator(page)

    def create(self, bot_id: Id, code: str, *, message: str | None = None) -> Version:
        body = VersionCreate.from_dict(given(code=code, message=message))
        return expect(call(create_version.sync_detailed, uuid_of(bot_id), client=self.api,
                           body=body), Version)

    def get(self, bot_id: Id, number: int) -> Version:
        return expect(call(get_version.sync_detailed, uuid_of(bot_id), number, client=self.api),
                      Version)

    def rollback(self, bot_id: Id, version: int) -> Version:
        """Make a copy of ``version`` the bot's new current version."""
        return expect(call(rollback.sync_detailed, uuid_of(bot_id), client=self.api,
                           body=Rollback(version=version)), Version)


class Executions(Resource):
    """``/api/v2/executions``: runs of bots."""

    def create(self, bot_id: Id, input: dict[str, Any] | None = None, *,
               version: int | None = None, idempotency_key: str | None = None) -> Execution:
        """Queue a run. The ``Idempotency-Key`` (a new UUID when not given) is the same on every
        retry of this call, so the server starts one execution however often it is sent."""
        body = ExecutionCreate.from_dict(given(input=input or {}, version=version))
        key = idempotency_key or str(uuid.uuid4())
        return expect(call(create_execution.sync_detailed, uuid_of(bot_id), client=self.api,
                           body=body, idempotency_key=key), Execution)

    def get(self, execution_id: Id, *, expand: Sequence[str] = ()) -> Execution:
        return expect(call(get_execution.sync_detailed, uuid_of(execution_id), client=self.api,
                           expand=[GetExecutionExpandItem(e) for e in expand] or UNSET),
                      Execution)

    def list(self, *, bot_id: Id | None = None, status: str | None = None,
             trigger: str | None = None, expand: Sequence[str] = (),
             limit: int | None = None) -> Paginator[ExecutionSummary]:
        """Executions, newest first; of one bot with ``bot_id``."""
        def page(cursor: str | None) -> ExecutionList:
            return expect(call(
                list_executions.sync_detailed, client=self.api, cursor=opt(cursor),
                limit=opt(limit), bot_id=uuid_of(bot_id) if bot_id else UNSET,
                status=ListExecutionsStatus(status) if status else UNSET,
                trigger=ListExecutionsTrigger(trigger) if trigger else UNSET,
                expand=[ListExecutionsExpandItem(e) for e in expand] or UNSET), ExecutionList)
        return Paginator(page)

    def cancel(self, execution_id: Id) -> Execution:
        return expect(call(cancel_execution.sync_detailed, uuid_of(execution_id), client=self.api),
                      Execution)


class ApiKeys(Resource):
    """``/api/v2/api-keys``: the workspace's API keys (one page: a short list)."""

    def list(self) -> Paginator[ApiKey]:
        return Paginator(lambda _cursor: expect(
            call(list_keys.sync_detailed, client=self.api), ApiKeyList))

    def create(self, name: str, role: str, *,
               expires_at: datetime.datetime | None = None) -> MintedKey:
        """A new key; its secret (``.key``) is in this answer only."""
        body = ApiKeyCreate.from_dict(given(
            name=name, role=role, expires_at=expires_at.isoformat() if expires_at else None))
        return expect(call(create_key.sync_detailed, client=self.api, body=body), MintedKey)

    def get(self, key_id: Id) -> ApiKey:
        return expect(call(get_key.sync_detailed, uuid_of(key_id), client=self.api), ApiKey)

    def delete(self, key_id: Id) -> None:
        expect_empty(call(delete_key.sync_detailed, uuid_of(key_id), client=self.api))


class Members(Resource):
    """``/api/v2/members``: who belongs to the workspace, with which role."""

    def list(self) -> Paginator[Member]:
        return Paginator(lambda _cursor: expect(
            call(list_members.sync_detailed, client=self.api), MemberList))

    def change_role(self, user_id: Id, role: str) -> Member:
        return expect(call(change_role.sync_detailed, uuid_of(user_id), client=self.api,
                           body=Role.from_dict({"role": role})), Member)

    def remove(self, user_id: Id) -> None:
        expect_empty(call(remove_member.sync_detailed, uuid_of(user_id), client=self.api))


class AuditLogs(Resource):
    """``/api/v2/audit-logs``: every mutation of the workspace, newest first."""

    def list(self, *, action: str | None = None, resource_type: str | None = None,
             resource_id: str | None = None, user_id: Id | None = None,
             limit: int | None = None) -> Paginator[AuditEntry]:
        def page(cursor: str | None) -> AuditList:
            return expect(call(
                list_audit_logs.sync_detailed, client=self.api, cursor=opt(cursor),
                limit=opt(limit), action=opt(action), resource_type=opt(resource_type),
                resource_id=opt(resource_id), user_id=uuid_of(user_id) if user_id else UNSET),
                AuditList)
        return Paginator(page)


class Usage(Resource):
    """``/api/v2/usage``: the LLM ledger, summed."""

    def get(self, *, from_: datetime.datetime | None = None,
            to: datetime.datetime | None = None, group_by: Sequence[str] = ()) -> UsageReport:
        grouped: str | Unset = ",".join(group_by) if group_by else UNSET
        return expect(call(get_usage.sync_detailed, client=self.api, from_=opt(from_),
                           to=opt(to), group_by=grouped), UsageReport)


class Schedules(Resource):
    """``/api/v2/bots/{bot_id}/schedule``: a bot's cron schedule."""

    def get(self, bot_id: Id) -> Schedule:
        return expect(call(get_schedule.sync_detailed, uuid_of(bot_id), client=self.api), Schedule)

    def put(self, bot_id: Id, cron: str, *, input: dict[str, Any] | None = None,
            timezone: str | None = None, enabled: bool | None = None) -> Schedule:
        body = ScheduleInput.from_dict(given(cron=cron, input=input, timezone=timezone,
                                              enabled=enabled))
        return expect(call(put_schedule.sync_detailed, uuid_of(bot_id), client=self.api,
                           body=body), Schedule)

    def delete(self, bot_id: Id) -> None:
        expect_empty(call(delete_schedule.sync_detailed, uuid_of(bot_id), client=self.api))
