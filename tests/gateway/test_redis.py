"""The gateway's shared state in Redis, between two runtimes (two apps, as two web processes
would be): cooldowns, and rate limits per workspace and per API key. And Redis configured
but unreachable, at start or later: cooldowns fall back to the database (still shared),
rate limits to per-process counters, with a warning and ``/health`` failing meanwhile.

Tests that need the Redis on 127.0.0.1:6379 skip without it; each deletes only the keys of
its own workspace and API key.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from typing import Any

import pytest

from codex32.services.gateway import ratelimits
from tests.gateway.conftest import configure

UNREACHABLE = "redis://127.0.0.1:1/0"
ASK = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}
DAY = 86400.0


def post_chat(app, headers: dict[str, str], **body: Any):
    return app.test_client().post("/api/v1/llm/chat", json={**ASK, **body}, headers=headers)


def fail_openai_twice(tenant, servers) -> None:
    """A route ``fast`` (openai, then anthropic) whose openai rests after two failures; the
    next two openai calls fail."""
    configure(tenant, servers, llm={
        "aliases": {"fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]},
        "cooldown": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 120}})
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")


def openai_calls(servers) -> int:
    return len(servers[0].requests_to("/v1/chat/completions"))


def cooldown_rows(superuser, workspace_id: str) -> list[tuple]:
    return superuser.execute(
        "SELECT provider, model, cooldown_until IS NOT NULL FROM llm_cooldowns "
        "WHERE workspace_id = %s", (workspace_id,)).fetchall()


def assert_cooled_down_then_skipped(first, second, tenant, servers) -> None:
    """Two failures through ``first`` put openai to rest; ``second`` then skips it."""
    answered = post_chat(first, tenant.headers, model="fast")
    assert answered.status_code == 200, answered.json
    assert answered.json["provider"] == "anthropic"
    assert [a["error"] for a in answered.json["attempts"]] == ["server", "server"]
    calls = openai_calls(servers)
    skipped = post_chat(second, tenant.headers, model="fast")
    assert skipped.status_code == 200, skipped.json
    assert (skipped.json["provider"], skipped.json["attempts"]) == ("anthropic", [])
    assert openai_calls(servers) == calls


def clean_up_after(redis_cleanup, tenant, api_key_id: str | None = None) -> None:
    """Forget the keys this test's workspace, admin and API key leave in Redis."""
    for pattern in (f"codex32:cooldown:{tenant.workspace_id}:*",
                    f"codex32:rl:llm:ws:{tenant.workspace_id}:*",
                    f"codex32:rl:user:{tenant.user_id}:*",
                    *([f"codex32:rl:llm:key:{api_key_id}:*", f"codex32:rl:api_key:{api_key_id}:*"]
                      if api_key_id else [])):
        redis_cleanup(pattern)


@pytest.fixture()
def day_windows(monkeypatch):
    """Rate limit windows of a day, so a test never straddles two minutes' windows."""
    monkeypatch.setattr(ratelimits, "WINDOW", DAY)


# -- Redis ----------------------------------------------------------------------------------


def test_a_deployment_cooled_down_in_one_runtime_is_skipped_by_another(
        make_app, redis_url, redis_cleanup, tenant, servers, superuser):
    import redis
    clean_up_after(redis_cleanup, tenant)
    first, second = make_app(redis_url=redis_url), make_app(redis_url=redis_url)
    fail_openai_twice(tenant, servers)

    assert_cooled_down_then_skipped(first, second, tenant, servers)

    client = redis.Redis.from_url(redis_url)
    assert client.exists(f"codex32:cooldown:{tenant.workspace_id}:openai:gpt-4o-mini:until")
    client.close()
    assert cooldown_rows(superuser, tenant.workspace_id) == []  # Redis, not the database
    shown = second.test_client().get("/api/v1/llm/deployments", headers=tenant.headers)
    state = {(d["provider"], d["model"]): d for d in shown.json["deployments"]}
    assert state[("openai", "gpt-4o-mini")]["state"] == "cooldown"
    assert state[("openai", "gpt-4o-mini")]["last_error"] == "server"


def test_a_cooldown_in_redis_is_shown_on_a_model_whose_name_holds_colons(
        make_app, redis_url, redis_cleanup, tenant, servers):
    # Ollama's "llama3:8b", OpenAI's fine-tunes "ft:gpt-4o-mini:org::id": the key's parts
    # are split at the provider's end (its id has no colon), not at the model's colons.
    model = "ft:gpt-4o-mini:acme::x1"
    clean_up_after(redis_cleanup, tenant)
    configure(tenant, servers, llm={
        "aliases": {"tuned": [f"openai/{model}", "anthropic/claude-haiku-4-5"]},
        "cooldown": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 120}})
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")
    app = make_app(redis_url=redis_url)
    answered = post_chat(app, tenant.headers, model="tuned")
    assert answered.status_code == 200 and answered.json["provider"] == "anthropic"
    shown = app.test_client().get("/api/v1/llm/deployments", headers=tenant.headers)
    state = {(d["provider"], d["model"]): d for d in shown.json["deployments"]}
    assert state[("openai", model)]["state"] == "cooldown"
    assert state[("openai", model)]["last_error"] == "server"


def test_requests_per_minute_are_shared_by_runtimes_per_workspace_and_per_key(
        make_app, redis_url, redis_cleanup, day_windows, tenant, servers):
    configure(tenant, servers, llm={"rate_limits": {
        "requests_per_minute": 3, "per_key": {"requests_per_minute": 1}}})
    minted = tenant.call("POST", "/api/v1/api-keys", json={"name": "k", "role": "api_user"})
    clean_up_after(redis_cleanup, tenant, minted.json["id"])
    key = {"Authorization": f"Bearer {minted.json['key']}"}
    first, second = make_app(redis_url=redis_url), make_app(redis_url=redis_url)

    allowed = post_chat(first, key)
    by_key = post_chat(second, key)            # the key's one request is used up
    post_chat(first, tenant.headers)           # the workspace's second (by_key did not count)
    admin = post_chat(second, tenant.headers)  # the workspace's third
    by_workspace = post_chat(first, tenant.headers)

    assert allowed.status_code == 200, allowed.json
    assert allowed.headers["x-ratelimit-limit-requests"] == "1"  # the tightest limit
    assert allowed.headers["x-ratelimit-remaining-requests"] == "0"
    assert by_key.status_code == 429 and "for this key" in by_key.json["message"]
    assert admin.status_code == 200 and admin.headers["x-ratelimit-remaining-requests"] == "0"
    assert by_workspace.status_code == 429
    assert "3 requests per minute for this workspace" in by_workspace.json["message"]
    for refused in (by_key, by_workspace):
        assert 1 <= int(refused.headers["Retry-After"]) <= DAY
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"


def test_tokens_per_minute_are_shared_by_runtimes(make_app, redis_url, redis_cleanup,
                                                  day_windows, tenant, servers):
    configure(tenant, servers, llm={"rate_limits": {"tokens_per_minute": 2000}})
    clean_up_after(redis_cleanup, tenant)
    first, second = make_app(redis_url=redis_url), make_app(redis_url=redis_url)

    allowed = post_chat(first, tenant.headers, max_tokens=1500)
    refused = post_chat(second, tenant.headers, max_tokens=1500)

    assert allowed.status_code == 200, allowed.json
    assert allowed.headers["x-ratelimit-limit-tokens"] == "2000"
    assert 0 < int(allowed.headers["x-ratelimit-remaining-tokens"]) < 500
    assert refused.status_code == 429 and "tokens per minute" in refused.json["message"]
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_requests_limits_and_cooldowns_are_one_round_trip_to_redis(
        make_app, redis_url, redis_cleanup, day_windows, tenant, servers, monkeypatch):
    # Each Redis round trip is a wait on another process on every gateway request: the key's
    # and the workspace's requests and tokens, and the deployments' rests, go in one.
    import redis.connection
    configure(tenant, servers, llm={
        "aliases": {"fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]},
        "rate_limits": {"requests_per_minute": 100, "tokens_per_minute": 10**6,
                        "per_key": {"requests_per_minute": 50, "tokens_per_minute": 10**6}}})
    minted = tenant.call("POST", "/api/v1/api-keys", json={"name": "k", "role": "api_user"})
    clean_up_after(redis_cleanup, tenant, minted.json["id"])
    key = {"Authorization": f"Bearer {minted.json['key']}"}
    app = make_app(redis_url=redis_url)
    assert post_chat(app, key, model="fast").status_code == 200  # scripts loaded
    sent = []
    original = redis.connection.Connection.send_packed_command
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command",
                        lambda self, *args, **kwargs: (sent.append(1),
                                                       original(self, *args, **kwargs))[1])

    answered = post_chat(app, key, model="fast")

    assert answered.status_code == 200, answered.json
    assert answered.headers["x-ratelimit-remaining-requests"] == "48"
    # The API's own limit for the key, then the gateway's admission: nothing else.
    assert len(sent) == 2


# -- Redis configured but unreachable -------------------------------------------------------


def test_unreachable_redis_at_start_keeps_cooldowns_shared_through_the_database(
        make_app, tenant, servers, superuser, caplog):
    caplog.set_level(logging.WARNING, logger="codex32.ratelimit")
    first, second = make_app(redis_url=UNREACHABLE), make_app(redis_url=UNREACHABLE)
    assert any("REDIS_URL is set but Redis is unreachable" in r.getMessage()
               for r in caplog.records)
    health = first.test_client().get("/health")
    assert health.status_code == 503 and health.json["checks"]["redis"]["ok"] is False
    fail_openai_twice(tenant, servers)

    assert_cooled_down_then_skipped(first, second, tenant, servers)

    assert cooldown_rows(superuser, tenant.workspace_id) == [("openai", "gpt-4o-mini", True)]


def started_redis(port: int, directory) -> subprocess.Popen:
    """A ``redis-server`` on 127.0.0.1:``port``, once it answers; skips without the binary."""
    redis = pytest.importorskip("redis")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(directory)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(f"redis://127.0.0.1:{port}/0",
                                 socket_connect_timeout=0.2).ping()
            return server
        except redis.RedisError:
            assert time.monotonic() < deadline and server.poll() is None, "no redis-server"
            time.sleep(0.02)


@pytest.fixture()
def own_redis(tmp_path):
    """A Redis server of this test's own on a free port (it is stopped mid-test); skips
    without the ``redis-server`` binary."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = started_redis(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0", server
    server.terminate()
    server.wait(timeout=10)


def test_redis_failing_later_moves_cooldowns_to_the_database_and_warns(
        make_app, own_redis, tenant, servers, superuser, caplog):
    url, server = own_redis
    app = make_app(redis_url=url)
    fail_openai_twice(tenant, servers)
    assert app.test_client().get("/health").json["checks"]["redis"]["ok"] is True
    server.terminate()
    server.wait(timeout=10)
    caplog.set_level(logging.WARNING, logger="codex32.ratelimit")

    assert_cooled_down_then_skipped(app, app, tenant, servers)

    assert cooldown_rows(superuser, tenant.workspace_id) == [("openai", "gpt-4o-mini", True)]
    warnings = [r.getMessage() for r in caplog.records if r.name == "codex32.ratelimit"]
    assert len(warnings) == 1 and "Redis failed" in warnings[0]
    health = app.test_client().get("/health")
    assert health.status_code == 503 and health.json["checks"]["redis"]["ok"] is False


def test_a_redis_that_hangs_is_waited_for_once_not_on_every_count(
        make_app, own_redis, tenant, servers, caplog):
    # A Redis that stops answering (a stalled server, a partition) costs its 0.5 s socket
    # timeout per call: a chat counts requests and tokens, for the workspace and the key,
    # and reads cooldowns. Each request paid that on every count, seconds per request.
    import signal

    url, server = own_redis
    configure(tenant, servers, llm={"rate_limits": {
        "requests_per_minute": 100, "tokens_per_minute": 1_000_000}})
    app = make_app(redis_url=url)
    assert post_chat(app, tenant.headers).status_code == 200
    server.send_signal(signal.SIGSTOP)
    try:
        caplog.set_level(logging.WARNING, logger="codex32.ratelimit")
        assert post_chat(app, tenant.headers).status_code == 200  # finds Redis failing
        started = time.monotonic()
        answered = [post_chat(app, tenant.headers) for _ in range(4)]
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGCONT)
    assert [a.status_code for a in answered] == [200] * 4
    assert answered[-1].headers["x-ratelimit-remaining-requests"] == "95"  # still counted
    assert elapsed < 1.5, f"4 chats took {elapsed:.1f}s while Redis hung"
    assert app.test_client().get("/health").json["checks"]["redis"]["ok"] is False


def test_a_rest_put_in_the_database_while_redis_was_down_holds_after_redis_returns(
        make_app, own_redis, tenant, servers, superuser, monkeypatch, tmp_path):
    # Cooldowns move to the database while Redis fails; once it answered again they were
    # read from Redis only, so a deployment put to rest during the outage was called again
    # at once (its rest forgotten), though every process had agreed to skip it.
    from codex32 import ratelimit, runtime

    url, server = own_redis
    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.1)
    app = make_app(redis_url=url)
    fail_openai_twice(tenant, servers)
    server.terminate()
    server.wait(timeout=10)
    answered = post_chat(app, tenant.headers, model="fast")  # openai fails twice: at rest
    assert answered.status_code == 200 and answered.json["provider"] == "anthropic"
    assert cooldown_rows(superuser, tenant.workspace_id) == [("openai", "gpt-4o-mini", True)]

    back = started_redis(int(url.rsplit(":", 1)[1].split("/")[0]), tmp_path)
    try:
        limiter = runtime.of(app).limiter
        deadline = time.monotonic() + 10
        while not limiter.redis_usable:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        calls = openai_calls(servers)
        skipped = post_chat(app, tenant.headers, model="fast")
        assert skipped.status_code == 200, skipped.json
        assert (skipped.json["provider"], skipped.json["attempts"]) == ("anthropic", [])
        assert openai_calls(servers) == calls
        shown = app.test_client().get("/api/v1/llm/deployments", headers=tenant.headers)
        state = {(d["provider"], d["model"]): d["state"] for d in shown.json["deployments"]}
        assert state[("openai", "gpt-4o-mini")] == "cooldown"
    finally:
        back.terminate()
        back.wait(timeout=10)


def test_a_healthy_redis_is_the_only_cooldown_store_read_once_database_rests_ended(
        make_app, redis_url, monkeypatch):
    """No read of ``llm_cooldowns`` per request while Redis answers, but while a rest this
    process put (or read) there lasts."""
    from codex32 import runtime
    from codex32.services.gateway import cooldown
    from codex32.services.gateway.chat import first_reads

    monkeypatch.setattr(cooldown, "_database_rests_until", 0.0)
    app = make_app(redis_url=redis_url)
    with runtime.activated(runtime.of(app)):
        assert len(first_reads()) == 1  # the provider configurations only
        cooldown._rest_in_database(60)
        assert len(first_reads()) == 2
        assert first_reads()[1][0] is cooldown.DatabaseStore.RESTING
