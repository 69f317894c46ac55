"""What a chat costs the database: the request's ``BEGIN`` and the gateway's first reads ride
the authentication's round trip, so a cache miss is three round trips (``BEGIN`` and
authentication with the first reads; the cache lookup with the budget reservation, the
pending ledger row and the commit; after the answer, ``BEGIN``, ledger row, settlement and
commits) and a hit two. The reads run before the credential is
judged, so a refused one must get nothing from them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import event

from codex32.db import db, driver, tenancy
from codex32.runtime import background
from codex32.services import provider_instances
from codex32.services.gateway import cache
from tests.gateway.conftest import configure

CHAT = "/api/v1/openai/chat/completions"


@pytest.fixture()
def trips(app, monkeypatch) -> Iterator[dict[str, int]]:
    """Round trips to the database: batches on the driver, statements through SQLAlchemy,
    and the ``BEGIN`` psycopg sends by itself (it waits for its answer, even in a pipeline)."""
    counted = {"driver": 0, "orm": 0, "begin": 0}
    send, command = driver._send, psycopg.Connection._exec_command

    def counting(*args):
        counted["driver"] += 1
        return send(*args)

    def beginning(self, sql, *args, **kwargs):
        counted["begin"] += sql.startswith(b"BEGIN")
        return command(self, sql, *args, **kwargs)

    def statement(*_args) -> None:
        counted["orm"] += 1

    monkeypatch.setattr(driver, "_send", counting)
    monkeypatch.setattr(psycopg.Connection, "_exec_command", beginning)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", statement)
        try:
            yield counted
        finally:
            event.remove(db.engine, "before_cursor_execute", statement)


@pytest.fixture()
def key(tenant, servers) -> str:
    configure(tenant, servers)
    minted = tenant.call("POST", "/api/v1/api-keys", json={"name": "trips", "role": "api_user"})
    assert minted.status_code == 201, minted.json
    return minted.json["key"]


def _ask(client, headers: dict[str, str], text: str):
    return client.post(CHAT, headers=headers, json={
        "model": "openai/gpt-4o-mini", "temperature": 0,
        "messages": [{"role": "user", "content": text}]})


@pytest.mark.parametrize("credential", ["api_key", "access_token"])
def test_a_miss_is_three_round_trips_and_a_hit_two(client, tenant, key, trips, credential,
                                                    monkeypatch):
    # One store in cache.PRUNE_EVERY (at random) has the workspace pruned apart, on the
    # housekeeping lane: not a chat's own round trips, and counted here when it fell on one.
    monkeypatch.setattr(cache, "PRUNE_EVERY", 10**9)
    headers = ({"Authorization": f"Bearer {key}"} if credential == "api_key"
               else tenant.headers)
    _ask(client, headers, "warm the process up")  # plugin instance, compiled statements
    for expected, label in ((3, "miss"), (2, "hit")):
        background.wait_idle()
        trips.update(driver=0, orm=0, begin=0)
        answer = _ask(client, headers, f"count the trips ({credential})")
        assert answer.status_code == 200, answer.json
        background.wait_idle()  # the record of a miss, written after its response
        assert answer.json["choices"][0]["message"]["content"].startswith("echo: count")
        # psycopg sends no BEGIN of its own: the authentication's batch begins.
        assert trips == {"driver": expected, "orm": 0, "begin": 0}, label


def test_a_streamed_miss_reads_nothing_again_after_its_authentication(client, key, trips):
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "openai/gpt-4o-mini", "temperature": 0, "stream": True,
            "messages": [{"role": "user", "content": "stream the warm-up"}]}
    assert b"[DONE]" in client.post(CHAT, headers=headers, json=body).data
    trips.update(driver=0, orm=0, begin=0)
    body["messages"] = [{"role": "user", "content": "stream and count the trips"}]
    answer = client.post(CHAT, headers=headers, json=body)
    assert b"trips" in answer.data and b"[DONE]" in answer.data
    # BEGIN and authentication with the first reads; the reservation (its BEGIN and binding
    # in its batch); the finish batch. The request's COMMIT (psycopg's) is not counted here.
    assert trips == {"driver": 3, "orm": 0, "begin": 0}


def test_reads_after_a_lookup_that_finds_nothing_see_no_workspace(app, tenant, servers):
    configure(tenant, servers)
    with app.app_context():
        try:
            row, found = tenancy.bind_through_reading(
                db.session, None,
                "SELECT id, workspace_id FROM auth_api_key(%(h)s)", {"h": "no such key"},
                [(f"SELECT {tenancy.BOUND_WORKSPACE}", {}),
                 provider_instances.bound_snapshot_statement("llm")])
            assert row is None and found == []
            # The same batch run by hand: what the reads saw once the lookup found nothing.
            seen = driver.execute_batch(db.session, [
                ("SELECT set_config('app.workspace_id', found.workspace_id::text, true) "
                 "FROM auth_api_key(%(h)s) AS found", {"h": "no such key"}),
                (f"SELECT {tenancy.BOUND_WORKSPACE}", {}),
                provider_instances.bound_snapshot_statement("llm")])
            assert seen[1][1] == [(None,)] and seen[2][1] == []
        finally:
            db.session.rollback()
            db.session.remove()


def test_refused_credentials_reach_no_provider_and_leave_no_ledger_row(
        client, tenant, key, servers, superuser):
    superuser.execute("UPDATE api_keys SET expires_at = %s WHERE workspace_id = %s",
                      (datetime.now(UTC) - timedelta(seconds=1), tenant.workspace_id))
    expired = _ask(client, {"Authorization": f"Bearer {key}"}, "an expired key")
    assert expired.status_code == 401  # in OpenAI's shape (the OpenAI-compatible endpoint)
    assert expired.json["error"]["message"] == "the API key has expired"
    assert client.post("/api/v1/auth/revoke", headers=tenant.headers).status_code == 204
    revoked = _ask(client, tenant.headers, "a revoked token")
    assert revoked.status_code == 401
    assert servers[0].requests_to("/v1/chat/completions") == []
    rows = superuser.execute("SELECT count(*) FROM llm_usage WHERE workspace_id = %s",
                             (tenant.workspace_id,)).fetchone()
    assert rows == (0,)
