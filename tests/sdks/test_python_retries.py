"""The Python SDK's retry policy and its tolerance of enum values it does not know, against the
scripted server (``tests/sdks/scripted.py``) or a transport that cannot connect: no live server.

The policy, the same in the three SDKs: GET, HEAD, PUT and DELETE, and any request carrying an
``Idempotency-Key``, are retried on 429, 502, 503 and 504 and on connection errors; a POST (or
PATCH) without a key never is.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from codex32_client import (
    Codex32,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from codex32_client.models import ExecutionStatus, ExecutionTrigger, ListExecutionsStatus
from codex32_client.transport import RetryPolicy as Policy
from tests.sdks.scripted import BOT, EXECUTION, problem

FAST = RetryPolicy(backoff=0.001, max_backoff=0.002)
NOW = {"Retry-After": "0"}


def test_idempotent_calls_are_retried_on_429_502_503_504(scripted):
    # 502 and 504 (a proxy's) were answered at once: only 429 and 503 were retried.
    server = scripted(
        [
            (502, NOW, problem(502)),
            (504, NOW, problem(504)),
            (429, NOW, problem(429)),
            (200, {}, BOT),
        ]
    )
    with Codex32(base_url=server.url, api_key="k", retry=FAST) as client:
        assert str(client.bots.get(BOT["id"]).id) == BOT["id"]
    assert [method for method, _ in server.requests] == ["GET"] * 4
    deleted = scripted([(503, NOW, problem(503)), (204, {}, b"")])
    with Codex32(base_url=deleted.url, api_key="k", retry=FAST) as client:
        client.schedules.delete(BOT["id"])
    assert [method for method, _ in deleted.requests] == ["DELETE", "DELETE"]


@pytest.mark.parametrize(
    "status, error", [(503, ServerError), (429, RateLimited), (502, ServerError)]
)
def test_a_post_or_patch_without_an_idempotency_key_is_never_retried(scripted, status, error):
    # A POST that creates (a bot, a chat) was sent again on 503 and 429: two bots, two charges.
    server = scripted([(status, NOW, problem(status)), (201, {}, BOT)])
    with Codex32(base_url=server.url, api_key="k", retry=FAST) as client:
        for attempt in (
            lambda: client.bots.create("b"),
            lambda: client.bots.update(BOT["id"], name="c"),
            lambda: client.llm.chat([{"role": "user", "content": "hi"}]),
        ):
            server.seen.clear()
            server.script[:] = [(status, NOW, problem(status)), (201, {}, BOT)]
            with pytest.raises(error):
                attempt()
            assert len(server.seen) == 1


def test_a_post_with_an_idempotency_key_is_retried_with_the_same_key(scripted):
    server = scripted([(502, NOW, problem(502)), (504, NOW, problem(504)), (202, {}, EXECUTION)])
    with Codex32(base_url=server.url, api_key="k", retry=FAST) as client:
        client.executions.create(uuid.uuid4(), {"a": 1})
    keys = {headers["Idempotency-Key"] for _, headers in server.seen}
    assert len(server.seen) == 3 and len(keys) == 1 and keys != {""}


class Unreachable(httpx.BaseTransport):
    """A transport whose every connection fails (``failure``), counting the attempts."""

    def __init__(self, failure: type[httpx.TransportError]) -> None:
        self.failure, self.methods = failure, list[str]()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        raise self.failure("refused", request=request)


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.RemoteProtocolError])
def test_connection_errors_are_retried_only_for_idempotent_calls(failure):
    # A refused connection was retried for any POST, a dropped one for none.
    unreachable = Unreachable(failure)
    with Codex32(api_key="k", retry=FAST, transport=unreachable) as client:
        with pytest.raises(TransportError):
            client.bots.get(BOT["id"])
        assert unreachable.methods == ["GET"] * 4
        unreachable.methods.clear()
        with pytest.raises(TransportError):
            client.bots.create("b")
        assert unreachable.methods == ["POST"]
        unreachable.methods.clear()
        with pytest.raises(TransportError):
            client.executions.create(uuid.uuid4())
        assert unreachable.methods == ["POST"] * 4


def test_the_backoff_is_jittered_and_bounded():
    policy = Policy()
    waits = [policy.wait(2, None) for _ in range(50)]
    assert all(0 <= wait <= 2.0 for wait in waits) and len(set(waits)) > 1
    assert max(policy.wait(30, None) for _ in range(50)) <= policy.max_backoff
    answer = httpx.Response(503, headers={"Retry-After": "7"})
    assert policy.wait(0, answer) == 7  # the server's wait, as it is (the deadline bounds it)


# -- enum values this SDK does not know ------------------------------------------------------

FUTURE = {**EXECUTION, "status": "paused_for_review", "trigger": "webhook"}


def test_an_unknown_enum_value_is_kept_as_its_raw_string(scripted):
    # A status a newer server added made the answer unreadable: APIError("unreadable answer").
    server = scripted([(200, {}, FUTURE), (200, {}, {"data": [FUTURE], "next_cursor": None})])
    with Codex32(base_url=server.url, api_key="k") as client:
        execution = client.executions.get(FUTURE["id"])
        listed = list(client.executions.list(status="paused_for_review"))
    assert execution.status == "paused_for_review" and str(execution.status) == "paused_for_review"
    assert isinstance(execution.status, ExecutionStatus) and execution.status.name == "UNKNOWN"
    assert execution.trigger.value == "webhook" and isinstance(execution.trigger, ExecutionTrigger)
    assert execution.to_dict()["status"] == "paused_for_review"
    assert listed[0].status == "paused_for_review"
    assert server.requests[1][1].endswith("status=paused_for_review")
    assert ExecutionStatus("queued") is ExecutionStatus.QUEUED  # known values as before
    assert ListExecutionsStatus("paused_for_review").value == "paused_for_review"
