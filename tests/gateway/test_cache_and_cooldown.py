"""The response cache (workspace-keyed, deterministic requests only, opt-in and opt-out,
TTL, recorded as hits at zero cost) and cooldowns shared between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

from tests.gateway.conftest import ask, chat, configure

ROOT = Path(__file__).resolve().parents[2]


def test_an_identical_deterministic_request_is_answered_from_the_cache(app, chained, servers):
    first = chat(app, chained, ask(model="fast", temperature=0))
    second = chat(app, chained, ask(model="fast", temperature=0))
    assert not first.cache_hit and second.cache_hit
    assert second.text == first.text and second.cost_usd == Decimal(0)
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1
    usage = chained.call("GET", "/api/v1/usage").json["groups"][0]
    assert usage["requests"] == 2 and usage["cache_hits"] == 1
    assert Decimal(usage["cost_usd"]) == first.cost_usd


def test_identical_requests_of_two_workspaces_never_share_an_answer(app, servers, client):
    from tests.conftest import sign_up
    one, two = sign_up(client), sign_up(client)
    for tenant in (one, two):
        configure(tenant, servers)
    results = [chat(app, tenant, ask(temperature=0)) for tenant in (one, two, two, one)]
    assert [r.cache_hit for r in results] == [False, False, True, True]
    assert len(servers[0].requests_to("/v1/chat/completions")) == 2


def test_an_answer_holding_a_nul_character_is_answered_and_recorded_not_cached(chained,
                                                                              servers):
    """PostgreSQL's jsonb cannot hold U+0000: storing such an answer failed the batch that
    also writes the ledger row, after the provider was paid (a 500, the call unrecorded)."""
    servers[0].reply = "before\x00after"
    for stream in (False, False, True):
        response = chained.call("POST", "/api/v1/llm/chat", json={
            "messages": [{"role": "user", "content": "say it"}], "model": "fast",
            "temperature": 0, "stream": stream})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "before\\u0000after" in response.get_data(as_text=True)
    assert len(servers[0].requests_to("/v1/chat/completions")) == 3  # never from the cache
    usage = chained.call("GET", "/api/v1/usage").json["groups"][0]
    assert usage["requests"] == 3 and usage["cache_hits"] == 0 and usage["failed_requests"] == 0


def test_a_streamed_answer_holding_a_lone_surrogate_is_answered_and_recorded_not_cached(
        chained, servers):
    """An upstream's stream may escape half a UTF-16 pair ("\\ud800"): such text has no UTF-8
    form, so storing it in the cache failed the batch that also writes the ledger row (the
    stream broke off, the call left pending)."""
    servers[0].reply = "before\ud800after"
    for _ in range(2):
        response = chained.call("POST", "/api/v1/llm/chat", json={
            "messages": [{"role": "user", "content": "say it"}], "model": "fast",
            "temperature": 0, "stream": True})
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "event: done" in body, body
    assert len(servers[0].requests_to("/v1/chat/completions")) == 2  # never from the cache
    usage = chained.call("GET", "/api/v1/usage").json["groups"][0]
    assert (usage["requests"], usage["pending_requests"], usage["failed_requests"]) == (2, 0, 0)


def test_only_deterministic_requests_are_cached_unless_asked(app, chained, servers):
    chat(app, chained, ask(model="fast", temperature=0.7))
    assert not chat(app, chained, ask(model="fast", temperature=0.7)).cache_hit
    chat(app, chained, ask("opt in", model="fast", temperature=0.7), cache=True)
    assert chat(app, chained, ask("opt in", model="fast", temperature=0.7), cache=True).cache_hit
    chat(app, chained, ask("opt out", model="fast", temperature=0), cache=False)
    assert not chat(app, chained, ask("opt out", model="fast", temperature=0),
                    cache=False).cache_hit


def test_a_workspace_ttl_of_zero_turns_the_cache_off(app, tenant, servers):
    configure(tenant, servers, llm={"cache": {"ttl_seconds": 0}})
    chat(app, tenant, ask(temperature=0))
    assert not chat(app, tenant, ask(temperature=0)).cache_hit


FAIL_TWICE = textwrap.dedent("""
    import gc, json, sys
    from pathlib import Path
    from codex32.app import create_app
    from codex32.db import db, tenancy
    from codex32.db.urls import DatabaseUrls
    from codex32.services import gateway
    from tests.conftest import make_settings
    from tests.gateway.conftest import ask

    args = json.loads(sys.argv[1])
    app = create_app(make_settings(Path(args["data_dir"]), startup_checks=False),
                     DatabaseUrls(runtime=args["runtime"], owner=args["owner"]))
    with app.app_context():
        tenancy.bind(db.session, args["workspace_id"])
        result = gateway.chat(args["workspace_id"], ask(model="fast"),
                              purpose="test")
        print(json.dumps([a.as_dict() for a in result.attempts]))
    gc.freeze()  # the exit's collections would walk the app and both SDKs to free them: 1.3 s
""")


def test_a_cooldown_reached_in_one_process_is_honoured_in_another(app, chained, servers,
                                                                   database, data_dir):
    chained.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "aliases": {"fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]},
        "cooldown": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 120}}}})
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")
    args = {"data_dir": str(data_dir), "runtime": database.urls.runtime,
            "owner": database.urls.owner, "workspace_id": chained.workspace_id}
    other = subprocess.run([sys.executable, "-c", FAIL_TWICE, json.dumps(args)], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                           text=True, timeout=120)
    assert other.returncode == 0, other.stderr[-3000:]
    assert [a["error"] for a in json.loads(other.stdout.splitlines()[-1])] == [
        "server", "server"]
    calls = len(servers[0].requests_to("/v1/chat/completions"))
    result = chat(app, chained, ask(model="fast"))
    assert result.provider == "anthropic" and result.attempts == []
    assert len(servers[0].requests_to("/v1/chat/completions")) == calls


def test_an_answer_cached_before_its_provider_was_reconfigured_is_not_served(
        app, chained, servers):
    """The cache key holds each provider's configuration generation: once an admin points
    ``openai`` at another server (the same model name may answer otherwise there), the
    answer the old one gave is not served for the rest of its TTL."""
    from codex32.testing.fake_openai import FakeOpenAI

    first = chat(app, chained, ask(model="fast", temperature=0))
    assert not first.cache_hit
    with FakeOpenAI(api_key="sk-o") as other:
        response = chained.call("PUT", "/api/v1/providers/llm/openai", json={
            "config": {"base_url": other.url, "timeout": 2}, "secrets": {"api_key": "sk-o"}})
        assert response.status_code == 200, response.json
        second = chat(app, chained, ask(model="fast", temperature=0))
        third = chat(app, chained, ask(model="fast", temperature=0))
        assert not second.cache_hit and third.cache_hit  # cached again, for the new one
        assert len(other.requests_to("/v1/chat/completions")) == 1
    assert len(servers[0].requests_to("/v1/chat/completions")) == 1


def test_a_workspaces_cache_is_bounded_in_entries_and_in_bytes(app, chained, servers,
                                                               database, monkeypatch):
    """Each store may trim (here every one): past max_entries the oldest answers go, and past
    the platform's byte bound per workspace too, whatever max_entries allows (a tenant's own
    server answering 256 KB for free could otherwise fill the database: 100,000 entries)."""
    import psycopg

    from codex32.runtime import background
    from codex32.services.gateway import cache

    monkeypatch.setattr(cache, "PRUNE_EVERY", 1)
    monkeypatch.setattr(cache, "MAX_WORKSPACE_BYTES", 5_000, raising=False)
    servers[0].reply = "x" * 1_500  # each cached answer holds about 1.6 KB
    for index in range(6):
        chat(app, chained, ask(f"question {index}", model="fast", temperature=0))
    background.wait_idle()  # the prunes run on a lane of their own
    with psycopg.connect(database.superuser_dsn) as connection:
        count, size = connection.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM llm_cache WHERE workspace_id = %s",
            (chained.workspace_id,)).fetchone()
    assert 1 <= count <= 3 and size <= 5_000, (count, size)
    assert chat(app, chained, ask("question 5", model="fast", temperature=0)).cache_hit


def test_a_cache_prune_that_waits_holds_up_no_answers_record(chained, servers, database,
                                                             monkeypatch):
    """The prune ran in the record's batch, on the thread that writes every answer's record:
    a prune that waits (here on a row another transaction holds; in production, a big
    workspace's delete) held the answer's ledger row pending, and every record behind it."""
    import time

    import psycopg

    from codex32.runtime import background
    from codex32.services.gateway import cache
    from tests.gateway.conftest import ledger_rows

    monkeypatch.setattr(cache, "PRUNE_EVERY", 1)
    configure(chained, servers, llm={"aliases": {"fast": ["openai/gpt-4o-mini"]},
                                     "cache": {"max_entries": 1}})

    def ask_http(text: str) -> None:
        response = chained.call("POST", "/api/v1/llm/chat", json={
            "model": "fast", "temperature": 0, "messages": [{"role": "user", "content": text}]})
        assert response.status_code == 200, response.json

    ask_http("question 0")
    background.wait_idle()
    with psycopg.connect(database.superuser_dsn) as holder:
        holder.execute("SELECT 1 FROM llm_cache WHERE workspace_id = %s FOR UPDATE",
                       (chained.workspace_id,))
        try:
            ask_http("question 1")
            ends = time.monotonic() + 3
            while True:
                with psycopg.connect(database.superuser_dsn) as reader:
                    statuses = [row[0] for row in reader.execute(
                        "SELECT status FROM llm_usage WHERE workspace_id = %s"
                        " ORDER BY created_at",
                        (chained.workspace_id,))]
                if statuses == ["ok", "ok"] or time.monotonic() > ends:
                    break
                time.sleep(0.05)
            assert statuses == ["ok", "ok"], statuses
        finally:
            holder.rollback()
    assert [row["status"] for row in ledger_rows(database, chained.workspace_id, "status")
            ] == ["ok", "ok"]
    with psycopg.connect(database.superuser_dsn) as connection:
        [(count,)] = connection.execute(
            "SELECT count(*) FROM llm_cache WHERE workspace_id = %s", (chained.workspace_id,))
    assert count == 1  # pruned once the row was free


def _state(tenant) -> str:
    shown = tenant.call("GET", "/api/v1/llm/deployments").json["deployments"]
    return {(d["kind"], d["provider"], d["model"]): d["state"]
            for d in shown}[("llm", "openai", "gpt-4o-mini")]


def test_a_callers_own_short_timeout_puts_no_deployment_to_rest(tenant, servers):
    """A member or API key sending chats with a tenth of a second to answer made each one a
    timeout of the deployment: two such requests put the workspace's model to rest for
    everyone (its traffic sent to the fallback, or slowed). A timeout counts only when the
    deployment had its own time: its configured timeout fired, or the attempt had 10 s."""
    configure(tenant, servers, timeout=0.5, llm={
        "cooldown": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 120}})
    servers[0].delay = 0.3  # a healthy model that takes 0.3 s
    for _ in range(3):
        response = tenant.call("POST", "/api/v1/llm/chat", json={
            "messages": [{"role": "user", "content": "hi"}], "model": "openai/gpt-4o-mini",
            "timeout": 0.1})
        assert response.status_code == 504, response.json
    assert _state(tenant) == "available"
    # A deployment that does not answer within its own configured timeout still rests.
    servers[0].delay = 0
    servers[0].enqueue_failure("timeout")
    servers[0].enqueue_failure("timeout")
    response = tenant.call("POST", "/api/v1/llm/chat", json={
        "messages": [{"role": "user", "content": "hi"}], "model": "openai/gpt-4o-mini"})
    assert response.status_code == 504, response.json
    assert _state(tenant) == "cooldown"
