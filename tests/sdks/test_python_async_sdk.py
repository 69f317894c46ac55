"""The Python SDK's asyncio client (``AsyncCodex32``) against the live server, as the sync
client is tested (``test_python_sdk.py``): an API key and a signed-in admin, token refresh
shared by concurrent tasks, lists, idempotency, typed errors, another workspace's objects, the
chat stream; and the retry policy and unknown enum values against the scripted server.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import jwt
import pytest

from codex32_client import (
    AsyncCodex32,
    Codex32Error,
    InvalidInput,
    NotFound,
    RetryPolicy,
    ServerError,
    TransportError,
    Unauthenticated,
)
from codex32_client.models import ExecutionStatus
from tests.conftest import sign_up
from tests.sdks.scripted import BOT, EXECUTION, problem

CODE = "def main(event, context):\n    return {'echo': event}\n"
FAST = RetryPolicy(backoff=0.001, max_backoff=0.002)
NOW = {"Retry-After": "0"}


def _name() -> str:
    return f"sdk-async-{uuid.uuid4().hex[:8]}"


def test_an_api_key_manages_bots_versions_and_lists(live_server, sdk_tenant):
    async def scenario() -> None:
        async with AsyncCodex32(base_url=live_server, api_key=sdk_tenant.admin_api_key) as c:
            bot = await c.bots.create(_name(), code=CODE)
            assert (await c.bots.update(bot.id, description="changed")).description == "changed"
            assert (await c.versions.create(bot.id, CODE, message="second")).number == 2
            assert [v.number async for v in c.versions.list(bot.id, limit=1)] == [2, 1]
            prefix = _name()
            made = {(await c.bots.create(f"{prefix}-{n}")).id for n in range(3)}
            listing = c.bots.list(q=prefix, limit=2)
            assert [len(page.items) async for page in listing.pages()] == [2, 1]
            assert {found.id for found in await listing.to_list()} == made
            await c.bots.delete(bot.id)
            with pytest.raises(NotFound) as missing:
                await c.bots.get(bot.id)
            assert missing.value.type == "urn:codex32:problem:not-found"
            with pytest.raises(InvalidInput) as invalid:
                await c.bots.create("")
            assert invalid.value.errors[0]["pointer"] == "/name"

    asyncio.run(scenario())


def test_the_same_idempotency_key_starts_one_execution(live_server, sdk_tenant):
    async def scenario() -> None:
        async with AsyncCodex32(base_url=live_server, api_key=sdk_tenant.admin_api_key) as c:
            bot = await c.bots.create(_name(), code=CODE)
            key = f"sdk-{uuid.uuid4()}"
            first = await c.executions.create(bot.id, {"n": 1}, idempotency_key=key)
            again = await c.executions.create(bot.id, {"n": 2}, idempotency_key=key)
            other = await c.executions.create(bot.id, {"n": 3})
            assert again.id == first.id != other.id
            listed = [e.id async for e in c.executions.list(bot_id=bot.id, limit=1)]
            assert listed == [other.id, first.id]
            assert (await c.executions.cancel(first.id)).cancel_requested

    asyncio.run(scenario())


def test_concurrent_tasks_refresh_an_expired_pair_once(app, live_server):
    tenant = sign_up(app.test_client())
    claims = jwt.decode(tenant.access_token, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 10}, app.config["JWT_SECRET_KEY"], algorithm="HS256"
    )
    stored = []

    async def scenario() -> None:
        async with AsyncCodex32(
            base_url=live_server,
            access_token=expired,
            refresh_token=tenant.refresh_token,
            on_tokens=stored.append,
        ) as client:
            pages = await asyncio.gather(*(client.bots.list().first_page() for _ in range(4)))
            assert len(pages) == 4
            assert client.tokens is not None and client.tokens.access_token != expired
        async with AsyncCodex32(
            base_url=live_server, access_token=expired, refresh_token="not-a-token"
        ) as bad:
            with pytest.raises(Unauthenticated):
                await bad.bots.list().first_page()

    asyncio.run(scenario())
    assert len(stored) == 1  # a refresh token is good once


def test_password_sign_in_then_admin_resources_and_isolation(app, live_server, sdk_tenant):
    theirs = sign_up(app.test_client()).create_bot()["id"]

    async def scenario() -> None:
        async with AsyncCodex32(
            base_url=live_server,
            email=sdk_tenant.email,
            password=sdk_tenant.password,
            workspace=sdk_tenant.slug,
        ) as c:
            assert (await c.me()).workspace["id"] == sdk_tenant.workspace_id
            minted = await c.api_keys.create(_name(), "viewer")
            assert (await c.api_keys.get(minted.id)).role == "viewer"
            assert minted.id in {key.id async for key in c.api_keys.list()}
            await c.api_keys.delete(minted.id)
            assert sdk_tenant.email in [m.email async for m in c.members.list()]
            audit = await c.audit_logs.list(action="api_key.delete", limit=1).first_page()
            assert audit.items[0].resource_id == str(minted.id)
            assert (await c.usage.get(group_by=["model"])).group_by == ["model"]
            for attempt in (
                c.bots.get(theirs),
                c.bots.delete(theirs),
                c.executions.create(theirs, {}),
            ):
                with pytest.raises(NotFound):
                    await attempt

    asyncio.run(scenario())


def test_a_chat_streams_text_chunks(live_server, sdk_tenant):
    messages = [{"role": "user", "content": "Say hello to the SDK in a few words."}]

    async def scenario() -> None:
        async with AsyncCodex32(base_url=live_server, api_key=sdk_tenant.api_key) as client:
            stream = await client.llm.chat_stream(messages, max_tokens=64)
            chunks = [chunk async for chunk in stream]
            assert chunks and stream.result is not None
            assert "".join(chunks) == stream.result["text"]
            assert (await client.llm.chat(messages, max_tokens=64)).text

    asyncio.run(scenario())


# -- the retry policy and unknown enum values, against the scripted server -------------------


def test_the_retry_policy_is_the_sync_clients(scripted):
    server = scripted([(502, NOW, problem(502)), (200, {}, BOT)])

    async def scenario() -> None:
        async with AsyncCodex32(base_url=server.url, api_key="k", retry=FAST) as client:
            assert str((await client.bots.get(BOT["id"])).id) == BOT["id"]
            server.script[:] = [(503, NOW, problem(503)), (201, {}, BOT)]
            server.seen.clear()
            with pytest.raises(ServerError):
                await client.bots.create("b")  # a POST without a key: once
            assert len(server.seen) == 1
            server.script[:] = [(503, NOW, problem(503)), (202, {}, EXECUTION)]
            server.seen.clear()
            await client.executions.create(uuid.uuid4())
            keys = [headers["Idempotency-Key"] for _, headers in server.seen]
            assert len(keys) == 2 and keys[0] == keys[1]

    asyncio.run(scenario())
    assert [method for method, _ in server.requests[:2]] == ["GET", "GET"]


class Unreachable(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.methods: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        raise httpx.ConnectError("refused", request=request)


def test_connection_errors_are_retried_only_for_idempotent_calls():
    unreachable = Unreachable()

    async def scenario() -> None:
        async with AsyncCodex32(api_key="k", retry=FAST, transport=unreachable) as client:
            with pytest.raises(TransportError):
                await client.bots.get(BOT["id"])
            with pytest.raises(TransportError):
                await client.bots.create("b")

    asyncio.run(scenario())
    assert unreachable.methods == ["GET"] * 4 + ["POST"]


def test_an_unknown_enum_value_and_an_unreadable_event(scripted):
    future = {**EXECUTION, "status": "paused_for_review"}
    server = scripted(
        [
            (200, {}, future),
            (200, {"Content-Type": "text/event-stream"}, b"event: chunk\ndata: {not json\n\n"),
        ]
    )

    async def scenario() -> None:
        async with AsyncCodex32(base_url=server.url, api_key="k") as client:
            execution = await client.executions.get(future["id"])
            assert execution.status == "paused_for_review"
            assert isinstance(execution.status, ExecutionStatus)
            stream = await client.llm.chat_stream([{"role": "user", "content": "hi"}])
            with pytest.raises(Codex32Error) as unreadable:
                [chunk async for chunk in stream]
            assert unreadable.value.status == 502

    asyncio.run(scenario())
