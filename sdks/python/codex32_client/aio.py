"""``AsyncCodex32``: the client for asyncio. The same resources, credentials, retries, errors and
pagers as ``Codex32``, over the generated clients' ``asyncio_detailed`` operations and one
``httpx.AsyncClient``; every call is awaited, lists are ``async for``.

    async with AsyncCodex32(api_key="c32_…", base_url="http://127.0.0.1:8000") as client:
        async for bot in client.bots.list():
            print(bot.name)
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from codex32_client import api_v1, api_v2
from codex32_client.api_v1.api.auth import me
from codex32_client.api_v1.models import Me
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
from codex32_client.api_v2.api.versions import create_version, get_version, list_versions, rollback
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
from codex32_client.auth import TokenAuth, Tokens, auth_for
from codex32_client.errors import acall, aremember, expect, expect_empty
from codex32_client.llm import AsyncLlm
from codex32_client.pagination import AsyncPaginator
from codex32_client.resources import Id, Resource, given, opt, uuid_of
from codex32_client.transport import AsyncRetryingTransport, RetryPolicy


class AsyncCodex32:
    """``Codex32`` for asyncio: the same arguments (``transport`` an
    ``httpx.AsyncBaseTransport``); use it in ``async with``, or ``await client.aclose()``."""

    def __init__(self, *, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None,
                 access_token: str | None = None, refresh_token: str | None = None,
                 email: str | None = None, password: str | None = None,
                 workspace: str | None = None, timeout: float | httpx.Timeout = 30.0,
                 retry: RetryPolicy | None = None,
                 on_tokens: Callable[[Tokens], None] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        base_url = base_url.rstrip("/")
        self.auth = auth = auth_for(
            base_url, api_key=api_key, access_token=access_token, refresh_token=refresh_token,
            email=email, password=password, workspace=workspace, on_tokens=on_tokens)
        self.http = httpx.AsyncClient(
            base_url=base_url, auth=auth, timeout=timeout,
            event_hooks={"response": [aremember]},
            transport=AsyncRetryingTransport(transport or httpx.AsyncHTTPTransport(),
                                             retry or RetryPolicy()))
        self._v2 = api_v2.AuthenticatedClient(base_url=base_url, token="")
        self._v2.set_async_httpx_client(self.http)
        self._v1 = api_v1.AuthenticatedClient(base_url=base_url, token="")
        self._v1.set_async_httpx_client(self.http)
        self.bots = Bots(self._v2)
        self.versions = Versions(self._v2)
        self.executions = Executions(self._v2)
        self.schedules = Schedules(self._v2)
        self.api_keys = ApiKeys(self._v2)
        self.members = Members(self._v2)
        self.audit_logs = AuditLogs(self._v2)
        self.usage = Usage(self._v2)
        self.llm = AsyncLlm(self._v1)

    @property
    def tokens(self) -> Tokens | None:
        """The current token pair (None with an API key, or before signing in)."""
        return self.auth.tokens if isinstance(self.auth, TokenAuth) else None

    async def me(self) -> Me:
        """The caller: user (null for an API key), workspace, role (v1 ``/auth/me``)."""
        return expect(await acall(me.asyncio_detailed, client=self._v1), Me)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncCodex32:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Bots(Resource):
    """``/api/v2/bots``: the workspace's bots."""

    def list(self, *, status: str | None = None, q: str | None = None,
             expand: Sequence[str] = (), limit: int | None = None) -> AsyncPaginator[Bot]:
        """Every bot, newest first (pages fetched as you iterate)."""
        async def page(cursor: str | None) -> BotList:
            return expect(await acall(
                list_bots.asyncio_detailed, client=self.api, cursor=opt(cursor),
                limit=opt(limit), status=ListBotsStatus(status) if status else UNSET,
                q=opt(q), expand=[ListBotsExpandItem(e) for e in expand] or UNSET), BotList)
        return AsyncPaginator(page)

    async def create(self, name: str, *, description: str | None = None,
                     code: str | None = None, status: str | None = None,
                     template: str | None = None, parameters: dict[str, Any] | None = None,
                     settings: dict[str, Any] | None = None,
                     message: str | None = None) -> BotDetail:
        body = BotCreate.from_dict(given(
            name=name, description=description, code=code, status=status, template=template,
            parameters=parameters, settings=settings, message=message))
        return expect(await acall(create_bot.asyncio_detailed, client=self.api, body=body),
                      BotDetail)

    async def get(self, bot_id: Id, *, expand: Sequence[str] = ()) -> BotDetail:
        return expect(await acall(get_bot.asyncio_detailed, uuid_of(bot_id), client=self.api,
                                  expand=[GetBotExpandItem(e) for e in expand] or UNSET),
                      BotDetail)

    async def update(self, bot_id: Id, *, name: str | None = None,
                     description: str | None = None, code: str | None = None,
                     status: str | None = None, settings: dict[str, Any] | None = None,
                     message: str | None = None) -> BotDetail:
        """Change the given fields; new ``code`` becomes a new version."""
        body = BotUpdate.from_dict(given(name=name, description=description, code=code,
                                          status=status, settings=settings, message=message))
        return expect(await acall(update_bot.asyncio_detailed, uuid_of(bot_id), client=self.api,
                                  body=body), BotDetail)

    async def delete(self, bot_id: Id) -> None:
        expect_empty(await acall(delete_bot.asyncio_detailed, uuid_of(bot_id), client=self.api))


class Versions(Resource):
    """``/api/v2/bots/{bot_id}/versions``: a bot's code history."""

    def list(self, bot_id: Id, *, limit: int | None = None) -> AsyncPaginator[VersionSummary]:
        async def page(cursor: str | None) -> VersionList:
            return expect(await acall(list_versions.asyncio_detailed, uuid_of(bot_id),
                                      client=self.api, cursor=opt(cursor), limit=opt(limit)),
                          VersionList)
        return AsyncPaginator(page)

    async def create(self, bot_id: Id, code: str, *, message: str | None = None) -> Version:
        body = VersionCreate.from_dict(given(code=code, message=message))
        return expect(await acall(create_version.asyncio_detailed, uuid_of(bot_id),
                                  client=self.api, body=body), Version)

    async def get(self, bot_id: Id, number: int) -> Version:
        return expect(await acall(get_version.asyncio_detailed, uuid_of(bot_id), number,
                                  client=self.api), Version)

    async def rollback(self, bot_id: Id, version: int) -> Version:
        """Make a copy of ``version`` the bot's new current version."""
        return expect(await acall(rollback.asyncio_detailed, uuid_of(bot_id), client=self.api,
                                  body=Rollback(version=version)), Version)


class Executions(Resource):
    """``/api/v2/executions``: runs of bots."""

    async def create(self, bot_id: Id, input: dict[str, Any] | None = None, *,
                     version: int | None = None,
                     idempotency_key: str | None = None) -> Execution:
        """Queue a run, with an ``Idempotency-Key`` (a new UUID when not given) that every
        retry of this call repeats."""
        body = ExecutionCreate.from_dict(given(input=input or {}, version=version))
        key = idempotency_key or str(uuid.uuid4())
        return expect(await acall(create_execution.asyncio_detailed, uuid_of(bot_id),
                                  client=self.api, body=body, idempotency_key=key), Execution)

    async def get(self, execution_id: Id, *, expand: Sequence[str] = ()) -> Execution:
        return expect(await acall(get_execution.asyncio_detailed, uuid_of(execution_id),
                                  client=self.api,
                                  expand=[GetExecutionExpandItem(e) for e in expand] or UNSET),
                      Execution)

    def list(self, *, bot_id: Id | None = None, status: str | None = None,
             trigger: str | None = None, expand: Sequence[str] = (),
             limit: int | None = None) -> AsyncPaginator[ExecutionSummary]:
        """Executions, newest first; of one bot with ``bot_id``."""
        async def page(cursor: str | None) -> ExecutionList:
            return expect(await acall(
                list_executions.asyncio_detailed, client=self.api, cursor=opt(cursor),
                limit=opt(limit), bot_id=uuid_of(bot_id) if bot_id else UNSET,
                status=ListExecutionsStatus(status) if status else UNSET,
                trigger=ListExecutionsTrigger(trigger) if trigger else UNSET,
                expand=[ListExecutionsExpandItem(e) for e in expand] or UNSET), ExecutionList)
        return AsyncPaginator(page)

    async def cancel(self, execution_id: Id) -> Execution:
        return expect(await acall(cancel_execution.asyncio_detailed, uuid_of(execution_id),
                                  client=self.api), Execution)


class ApiKeys(Resource):
    """``/api/v2/api-keys``: the workspace's API keys (one page: a short list)."""

    def list(self) -> AsyncPaginator[ApiKey]:
        async def page(_cursor: str | None) -> ApiKeyList:
            return expect(await acall(list_keys.asyncio_detailed, client=self.api), ApiKeyList)
        return AsyncPaginator(page)

    async def create(self, name: str, role: str, *,
                     expires_at: datetime.datetime | None = None) -> MintedKey:
        """A new key; its secret (``.key``) is in this answer only."""
        body = ApiKeyCreate.from_dict(given(
            name=name, role=role, expires_at=expires_at.isoformat() if expires_at else None))
        return expect(await acall(create_key.asyncio_detailed, client=self.api, body=body),
                      MintedKey)

    async def get(self, key_id: Id) -> ApiKey:
        return expect(await acall(get_key.asyncio_detailed, uuid_of(key_id), client=self.api),
                      ApiKey)

    async def delete(self, key_id: Id) -> None:
        expect_empty(await acall(delete_key.asyncio_detailed, uuid_of(key_id), client=self.api))


class Members(Resource):
    """``/api/v2/members``: who belongs to the workspace, with which role."""

    def list(self) -> AsyncPaginator[Member]:
        async def page(_cursor: str | None) -> MemberList:
            return expect(await acall(list_members.asyncio_detailed, client=self.api),
                          MemberList)
        return AsyncPaginator(page)

    async def change_role(self, user_id: Id, role: str) -> Member:
        return expect(await acall(change_role.asyncio_detailed, uuid_of(user_id), client=self.api,
                                  body=Role.from_dict({"role": role})), Member)

    async def remove(self, user_id: Id) -> None:
        expect_empty(await acall(remove_member.asyncio_detailed, uuid_of(user_id),
                                 client=self.api))


class AuditLogs(Resource):
    """``/api/v2/audit-logs``: every mutation of the workspace, newest first."""

    def list(self, *, action: str | None = None, resource_type: str | None = None,
             resource_id: str | None = None, user_id: Id | None = None,
             limit: int | None = None) -> AsyncPaginator[AuditEntry]:
        async def page(cursor: str | None) -> AuditList:
            return expect(await acall(
                list_audit_logs.asyncio_detailed, client=self.api, cursor=opt(cursor),
                limit=opt(limit), action=opt(action), resource_type=opt(resource_type),
                resource_id=opt(resource_id), user_id=uuid_of(user_id) if user_id else UNSET),
                AuditList)
        return AsyncPaginator(page)


class Usage(Resource):
    """``/api/v2/usage``: the LLM ledger, summed."""

    async def get(self, *, from_: datetime.datetime | None = None,
                  to: datetime.datetime | None = None,
                  group_by: Sequence[str] = ()) -> UsageReport:
        grouped: str | Unset = ",".join(group_by) if group_by else UNSET
        return expect(await acall(get_usage.asyncio_detailed, client=self.api,
                                  from_=opt(from_), to=opt(to), group_by=grouped),
                      UsageReport)


class Schedules(Resource):
    """``/api/v2/bots/{bot_id}/schedule``: a bot's cron schedule."""

    async def get(self, bot_id: Id) -> Schedule:
        return expect(await acall(get_schedule.asyncio_detailed, uuid_of(bot_id), client=self.api),
                      Schedule)

    async def put(self, bot_id: Id, cron: str, *, input: dict[str, Any] | None = None,
                  timezone: str | None = None, enabled: bool | None = None) -> Schedule:
        body = ScheduleInput.from_dict(given(cron=cron, input=input, timezone=timezone,
                                              enabled=enabled))
        return expect(await acall(put_schedule.asyncio_detailed, uuid_of(bot_id), client=self.api,
                                  body=body), Schedule)

    async def delete(self, bot_id: Id) -> None:
        expect_empty(await acall(delete_schedule.asyncio_detailed, uuid_of(bot_id),
                                 client=self.api))
