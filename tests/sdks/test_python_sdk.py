"""The Python SDK (sdks/python, ``codex32_client``) against the live server, as a workspace's
API key and as its signed-in admin; retries against a scripted fake server on 127.0.0.1; and
the SDK's type check (mypy, started once at the module's start, read at its end) and its
generated clients' match with the OpenAPI snapshots.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from codex32_client import (
    Codex32,
    Codex32Error,
    InvalidInput,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Timeout,
    Unauthenticated,
)
from tests.conftest import sign_up
from tests.sdks.conftest import ROOT, SNAPSHOTS
from tests.sdks.scripted import EXECUTION, problem

pytestmark = pytest.mark.xdist_group("sdk-python")
CODE = "def main(event, context):\n    return {'echo': event}\n"


@pytest.fixture(scope="module", autouse=True)
def typecheck() -> Iterator[subprocess.Popen[str]]:
    """mypy over the SDK, run in the background while the other tests use the server."""
    process = subprocess.Popen([sys.executable, "-m", "mypy", "-p", "codex32_client"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


@pytest.fixture(scope="module")
def by_key(live_server, sdk_tenant) -> Iterator[Codex32]:
    with Codex32(base_url=live_server, api_key=sdk_tenant.admin_api_key, timeout=10) as client:
        yield client


def _name() -> str:
    return f"sdk-{uuid.uuid4().hex[:8]}"


def test_an_api_key_creates_gets_updates_and_deletes_a_bot(by_key):
    bot = by_key.bots.create(_name(), description="made by the SDK", code=CODE)
    assert by_key.bots.get(bot.id).name == bot.name
    assert by_key.bots.update(str(bot.id), description="changed").description == "changed"
    version = by_key.versions.create(bot.id, CODE.replace("echo", "again"), message="second")
    assert version.number == 2 and by_key.versions.get(bot.id, 2).number == 2
    assert [v.number for v in by_key.versions.list(bot.id, limit=1)] == [2, 1]
    by_key.bots.delete(bot.id)
    with pytest.raises(NotFound):
        by_key.bots.get(bot.id)


def test_a_list_walks_every_page_with_a_small_limit(by_key):
    prefix = _name()
    made = {by_key.bots.create(f"{prefix}-{n}").id for n in range(5)}
    listing = by_key.bots.list(q=prefix, limit=2)
    pages = list(listing.pages())
    assert [len(page.items) for page in pages] == [2, 2, 1]
    assert pages[-1].next_cursor is None
    walked = [bot.id for bot in listing]
    assert len(walked) == 5 and set(walked) == made


def test_the_same_idempotency_key_starts_one_execution(by_key, sdk_tenant, live_server):
    bot = by_key.bots.create(_name(), code=CODE)
    key = f"sdk-{uuid.uuid4()}"
    with Codex32(base_url=live_server, api_key=sdk_tenant.api_key) as machine:  # api_user
        first = machine.executions.create(bot.id, {"n": 1}, idempotency_key=key)
        again = machine.executions.create(bot.id, {"n": 2}, idempotency_key=key)
        other = machine.executions.create(bot.id, {"n": 3})  # a key of its own
        assert again.id == first.id and other.id != first.id
        assert machine.executions.get(first.id).input_.to_dict() == {"n": 1}
        listed = [e.id for e in machine.executions.list(bot_id=bot.id, limit=1)]
        assert listed == [other.id, first.id]
    assert by_key.executions.cancel(first.id).cancel_requested


def _expired(app, access_token: str) -> str:
    """The access token as the server signs it, but expired ten seconds ago."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return jwt.encode({**claims, "exp": int(time.time()) - 10}, app.config["JWT_SECRET_KEY"],
                      algorithm="HS256")


def test_a_token_pair_is_refreshed_once_when_the_access_token_has_expired(app, live_server):
    tenant = sign_up(app.test_client())
    expired = _expired(app, tenant.access_token)
    stored = []
    with Codex32(base_url=live_server, access_token=expired, refresh_token=tenant.refresh_token,
                 on_tokens=stored.append) as client:
        bot = client.bots.create(_name())
        assert client.bots.get(bot.id).id == bot.id
        assert client.tokens is not None and client.tokens.access_token != expired
        assert len(stored) == 1 and stored[0].refresh_token != tenant.refresh_token
    bad = Codex32(base_url=live_server, access_token=expired, refresh_token="not-a-token")
    with bad, pytest.raises(Unauthenticated):
        bad.bots.get(bot.id)


def test_threads_sharing_a_client_refresh_the_pair_once(app, live_server):
    tenant = sign_up(app.test_client())
    stored = []
    client = Codex32(base_url=live_server, access_token=_expired(app, tenant.access_token),
                     refresh_token=tenant.refresh_token, on_tokens=stored.append)
    with client, ThreadPoolExecutor(4) as pool:
        pages = list(pool.map(lambda _: client.bots.list().first_page(), range(4)))
    assert len(pages) == 4 and len(stored) == 1  # a refresh token is good once


def test_email_and_password_sign_in_then_admin_resources(live_server, sdk_tenant):
    with Codex32(base_url=live_server, email=sdk_tenant.email, password=sdk_tenant.password,
                 workspace=sdk_tenant.slug) as client:
        assert client.me().workspace["id"] == sdk_tenant.workspace_id
        minted = client.api_keys.create(_name(), "viewer")
        assert minted.key and client.api_keys.get(minted.id).role == "viewer"
        assert minted.id in {key.id for key in client.api_keys.list()}
        client.api_keys.delete(minted.id)
        assert sdk_tenant.email in [member.email for member in client.members.list()]
        audit = client.audit_logs.list(action="api_key.delete", limit=1).first_page()
        assert audit.items[0].resource_id == str(minted.id)
        assert client.usage.get(group_by=["model"]).group_by == ["model"]
    with pytest.raises(Unauthenticated):
        Codex32(base_url=live_server, email=sdk_tenant.email, password="wrong").me()


def test_errors_are_typed_with_the_problem_details(by_key):
    with pytest.raises(NotFound) as missing:
        by_key.bots.get(uuid.uuid4())
    assert missing.value.status == 404 and missing.value.type == "urn:codex32:problem:not-found"
    assert missing.value.request_id and missing.value.instance.startswith("/api/v2/bots/")
    with pytest.raises(InvalidInput) as invalid:
        by_key.bots.create("")
    assert invalid.value.errors[0]["pointer"] == "/name"
    with pytest.raises(InvalidInput) as v1_invalid:  # v1's {code, status, message, errors}
        by_key.llm.chat([{"role": "user", "content": "hi"}], temperature=9)
    assert v1_invalid.value.status == 422 and v1_invalid.value.errors


def test_another_workspaces_bot_is_not_found(app, by_key):
    theirs = sign_up(app.test_client()).create_bot()["id"]
    for attempt in (lambda: by_key.bots.get(theirs),
                    lambda: by_key.bots.update(theirs, name="mine"),
                    lambda: by_key.bots.delete(theirs),
                    lambda: by_key.executions.create(theirs, {}),
                    lambda: list(by_key.versions.list(theirs))):
        with pytest.raises(NotFound):
            attempt()
    assert theirs not in {str(bot.id) for bot in by_key.bots.list(limit=100)}


def test_a_chat_streams_text_chunks(by_key):
    messages = [{"role": "user", "content": "Say hello to the SDK in a few words."}]
    stream = by_key.llm.chat_stream(messages, max_tokens=64)
    chunks = list(stream)
    assert chunks and all(isinstance(chunk, str) for chunk in chunks)
    assert stream.result is not None and "".join(chunks) == stream.result["text"]
    assert by_key.llm.chat(messages, max_tokens=64).text


# -- retries, against a scripted server (tests/sdks/scripted.py) ---------------------------


def test_a_503_is_retried_after_retry_after_with_the_same_idempotency_key(scripted):
    server = scripted([(503, {"Retry-After": "1"}, problem(503)), (202, {}, EXECUTION)])
    with Codex32(base_url=server.url, api_key="k") as client:
        execution = client.executions.create(uuid.uuid4(), {"a": 1})
    assert str(execution.id) == EXECUTION["id"]
    (first, sent), (second, resent) = server.seen
    assert second - first >= 1.0
    assert sent["Idempotency-Key"] and sent["Idempotency-Key"] == resent["Idempotency-Key"]


def test_retries_stop_at_the_limit_and_at_the_deadline(scripted):
    busy = scripted([(429, {"Retry-After": "0"}, problem(429))])
    client = Codex32(base_url=busy.url, api_key="k", retry=RetryPolicy(max_retries=2))
    with client, pytest.raises(RateLimited) as limited:
        client.executions.create(uuid.uuid4())
    assert len(busy.seen) == 3 and limited.value.retry_after == 0
    slow = scripted([(503, {"Retry-After": "120"}, problem(503))])
    started = time.monotonic()
    client = Codex32(base_url=slow.url, api_key="k", retry=RetryPolicy(deadline=5))
    with client, pytest.raises(ServerError) as unavailable:
        client.executions.create(uuid.uuid4())
    assert time.monotonic() - started < 1 and len(slow.seen) == 1
    assert unavailable.value.status == 503 and unavailable.value.retry_after == 120


def test_a_slow_answer_times_out(scripted):
    server = scripted([(202, {}, EXECUTION)])
    server.delay = 0.5
    client = Codex32(base_url=server.url, api_key="k", timeout=0.1)
    with client, pytest.raises(Timeout):
        client.executions.create(uuid.uuid4())


# -- the SDK itself -------------------------------------------------------------------------

def test_the_generated_clients_are_from_the_current_snapshots():
    sys.path.insert(0, str(ROOT / "sdks" / "python"))
    try:
        from generate import digest  # sdks/python/generate.py
    finally:
        sys.path.pop(0)
    recorded = json.loads((ROOT / "sdks/python/codex32_client/generated.json").read_text())
    for name in ("v1.json", "v2.json"):
        assert recorded[name] == digest(SNAPSHOTS / name), (
            f"sdks/openapi/{name} changed since the Python SDK was generated: make sdk-python")


def test_no_explode_false_parameter_can_carry_two_values():
    """openapi-python-client ignores ``explode: false`` (it repeats the parameter instead of
    joining the values with commas). Harmless while each such array has one possible value
    (``expand``); a second value needs the generated call fixed (sdks/python/README.md)."""
    found = []
    for name in ("v1.json", "v2.json"):
        for path, item in json.loads((SNAPSHOTS / name).read_text())["paths"].items():
            operations = {m: op for m, op in item.items() if isinstance(op, dict)}
            for method, operation in operations.items():
                for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                    schema = parameter.get("schema", {})
                    if parameter.get("explode") is False and schema.get("type") == "array":
                        found.append((method, path, parameter["name"]))
                        assert len(schema.get("items", {}).get("enum", [None, None])) == 1, (
                            f"{method} {path} {parameter['name']}: several values, explode false")
    assert ("get", "/api/v2/bots", "expand") in found


def test_the_sdk_type_checks(typecheck):
    output, _ = typecheck.communicate(timeout=120)
    assert typecheck.returncode == 0, output


def test_credentials_never_appear_in_reprs_errors_or_logs(scripted, caplog):
    server = scripted([(401, {}, {"code": 401, "status": "Unauthorized",
                                  "message": "the access token has expired"})])
    secrets = ("c32_secret-api-key", "secret-access-token", "secret-refresh-token",
               "secret-password")
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    with Codex32(base_url=server.url, api_key=secrets[0], retry=RetryPolicy(max_retries=0)
                 ) as by_key, pytest.raises(Unauthenticated) as refused:
        shown += [repr(by_key), repr(by_key.auth), repr(by_key.tokens)]
        by_key.bots.list().first_page()
    shown += [str(refused.value), repr(refused.value), repr(refused.value.body)]
    with Codex32(base_url=server.url, access_token=secrets[1], refresh_token=secrets[2],
                 retry=RetryPolicy(max_retries=0)) as by_tokens, pytest.raises(Unauthenticated):
        shown += [repr(by_tokens), repr(by_tokens.auth), repr(by_tokens.tokens),
                  str(by_tokens.tokens)]
        by_tokens.bots.list().first_page()
    with Codex32(base_url=server.url, email="ada@example.com", password=secrets[3],
                 retry=RetryPolicy(max_retries=0)) as by_password:
        shown += [repr(by_password.auth)]
    shown += [record.getMessage() for record in caplog.records]
    assert len(server.seen) >= 3  # the calls were made (and logged)
    for secret in secrets:
        assert not [text for text in shown if secret in text], secret


def test_an_access_token_without_a_refresh_token_is_not_refreshed(scripted):
    # It sent POST /auth/refresh with an empty bearer, and the call's error was the refresh's.
    server = scripted([(401, {}, {"code": 401, "status": "Unauthorized",
                                  "message": "the access token has expired"}),
                       (401, {}, {"code": 401, "status": "Unauthorized",
                                  "message": "the refresh token is missing"})])
    with Codex32(base_url=server.url, access_token="a.b.c") as client, \
            pytest.raises(Unauthenticated) as refused:
        client.executions.create(uuid.uuid4())
    assert len(server.seen) == 1
    assert refused.value.detail == "the access token has expired"


@pytest.mark.parametrize("events, status, detail", [
    (b"event: chunk\ndata: {\"text\": \"Hel\"}\n\nevent: chunk\ndata: {not json\n\n", 502,
     "unreadable event"),
    (b"event: chunk\ndata: 5\n\n", 502, "unreadable event"),
    (b"event: error\ndata: {\"code\": \"bad\", \"message\": \"down\"}\n\n", 502, "down"),
])
def test_an_unreadable_stream_event_is_a_typed_error(scripted, events, status, detail):
    # A proxy's garbage in the stream escaped as json's ValueError or an AttributeError.
    server = scripted([(200, {"Content-Type": "text/event-stream"}, events)])
    with Codex32(base_url=server.url, api_key="k") as client, \
            pytest.raises(Codex32Error) as unreadable:
        list(client.llm.chat_stream([{"role": "user", "content": "hi"}]))
    assert unreadable.value.status == status and detail in str(unreadable.value)
