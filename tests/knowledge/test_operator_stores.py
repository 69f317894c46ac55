"""The operator's side of where vectors are kept: a change of the platform's default store
(``CODEX32_DEFAULT_PLUGINS``) or of milvus's ``MILVUS_URI`` re-indexes the workspaces that
rely on it when a worker starts, without waiting for an upload; search reads the old place
until the new generation is complete. A generation whose store plugin is no longer installed
is settled without crashing and without losing the active one. Real stores: pgvector in the
test database, the session's milvus-lite server and a second one for a move of MILVUS_URI."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from codex32 import runtime
from codex32.execution import knowledge, sweeps
from tests.conftest import sign_up
from tests.knowledge.conftest import collection, milvus_server, search, upload_text, use_milvus
from tests.knowledge.test_store_switch import QUERY, TEXT, generations, vector_hits

pytestmark = pytest.mark.usefixtures("milvus_uri")


@pytest.fixture(scope="module")
def other_milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second milvus-lite server: where an operator moves MILVUS_URI to."""
    with milvus_server(tmp_path_factory, "other-milvus") as uri:
        yield uri


def worker_starts(app) -> None:
    """The pass a worker makes over every workspace's index when it starts, to its end."""
    rt = runtime.of(app)
    with runtime.activated(rt):
        after = sweeps.FIRST_WORKSPACE
        while after is not None:
            after = sweeps.knowledge_placement(rt.sessions, after, limit=1)


def restart_with(app, monkeypatch, **env: str) -> None:
    """The operator's environment changed and the processes restarted: no store instance
    built with the old one is left."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime.of(app).instances.clear()


def indexed(tenant, kb) -> set[str]:
    upload_text(tenant, collection(tenant), "Ops", TEXT)
    kb.drain(tenant)
    return {c["id"] for c in kb.chunks(tenant)}


def test_a_new_operator_default_store_rebuilds_the_workspaces_that_rely_on_it(
        client, app, tenant, kb, superuser, monkeypatch):
    chooser = sign_up(client)  # chose pgvector itself: the operator's default is not its
    chosen = chooser.call("PATCH", "/api/v1/workspace",
                          json={"settings": {"defaults": {"vector_store": "pgvector"}}})
    assert chosen.status_code == 200, chosen.json
    chunks, kept = indexed(tenant, kb), indexed(chooser, kb)

    monkeypatch.setitem(runtime.of(app).settings.default_plugins, "vector_store", "milvus")
    worker_starts(app)
    assert [row[:3] for row in generations(superuser, tenant)] == [
        (1, "active", "pgvector"), (2, "building", "milvus")]
    assert [task for _, task, _ in kb.jobs(tenant)] == ["codex32.reindex"]
    worker_starts(app)  # another worker starting: the build is not started twice
    assert len(generations(superuser, tenant)) == 2 and len(kb.jobs(tenant)) == 1
    during = search(tenant, QUERY)  # still the old generation, read from pgvector
    assert during["generation"] == 1 and vector_hits(during) == chunks

    kb.drain(tenant)
    after = search(tenant, QUERY)
    assert after["generation"] == 2 and vector_hits(after) == chunks
    assert kb.vector_ids(tenant, 2, store="milvus") == chunks
    assert kb.vector_ids(tenant, 1, store="pgvector") == set()  # dropped from the old store
    # The workspace that chose its store keeps it: no generation, no job.
    assert [row[:3] for row in generations(superuser, chooser)] == [(1, "active", "pgvector")]
    assert kb.jobs(chooser) == [] and vector_hits(search(chooser, QUERY)) == kept


def test_moving_milvus_uri_rebuilds_in_the_new_server_and_drops_from_the_old(
        app, tenant, kb, superuser, monkeypatch, milvus_uri, other_milvus_uri):
    use_milvus(tenant)  # sets no uri: the operator's MILVUS_URI decides
    chunks = indexed(tenant, kb)
    old, new = {"operator_uri": milvus_uri}, {"operator_uri": other_milvus_uri}
    assert generations(superuser, tenant)[0][3] == old  # where the operator put it, recorded
    assert kb.vector_ids(tenant, 1, store="milvus", config=old) == chunks

    restart_with(app, monkeypatch, MILVUS_URI=other_milvus_uri)
    during = search(tenant, QUERY)  # read where generation 1 is, not at the new MILVUS_URI
    assert during["generation"] == 1 and vector_hits(during) == chunks
    worker_starts(app)
    assert [row[:4] for row in generations(superuser, tenant)] == [
        (1, "active", "milvus", old), (2, "building", "milvus", new)]

    kb.drain(tenant)
    after = search(tenant, QUERY)
    assert after["generation"] == 2 and vector_hits(after) == chunks
    assert kb.vector_ids(tenant, 2, store="milvus", config=new) == chunks
    assert kb.vector_ids(tenant, 1, store="milvus", config=old) == set()


def test_a_generation_recorded_before_the_operator_s_place_was_is_pinned_not_rebuilt(
        app, tenant, kb, superuser, milvus_uri):
    use_milvus(tenant)
    chunks = indexed(tenant, kb)
    superuser.execute("UPDATE knowledge_indexes SET store_config = '{}' WHERE workspace_id = %s",
                      (tenant.workspace_id,))  # as migration 0015 left it
    worker_starts(app)
    assert [row[:4] for row in generations(superuser, tenant)] == [
        (1, "active", "milvus", {"operator_uri": milvus_uri})]
    assert kb.jobs(tenant) == [] and vector_hits(search(tenant, QUERY)) == chunks


def test_an_active_generation_whose_store_is_uninstalled_is_rebuilt_then_dropped_with_a_warning(
        app, tenant, kb, superuser, monkeypatch, caplog):
    use_milvus(tenant)
    chunks = indexed(tenant, kb)
    monkeypatch.delitem(runtime.of(app).plugins.registry["vector_store"], "milvus")
    runtime.of(app).instances.clear()

    unavailable = search(tenant, "payment gateway")  # full-text only, saying why
    assert not unavailable["vector_search"] and "unavailable" in unavailable["note"]
    assert {hit["chunk_id"] for hit in unavailable["items"]} == chunks
    worker_starts(app)  # the workspace's store is now the platform's: pgvector
    assert [row[:3] for row in generations(superuser, tenant)] == [
        (1, "active", "milvus"), (2, "building", "pgvector")]

    with caplog.at_level(logging.WARNING):
        outcomes = kb.drain(tenant)
    assert {outcome for _, outcome in outcomes} == {"ok"}
    assert [row[:3] for row in generations(superuser, tenant)] == [(2, "active", "pgvector")]
    after = search(tenant, QUERY)
    assert after["generation"] == 2 and vector_hits(after) == chunks
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("generation 1" in message and "'milvus'" in message
               and "not installed" in message for message in warned), warned


def test_a_build_whose_store_is_uninstalled_is_abandoned_and_the_active_generation_kept(
        app, tenant, kb, superuser, monkeypatch, caplog):
    chunks = indexed(tenant, kb)
    use_milvus(tenant)  # generation 2 queued in milvus
    monkeypatch.delitem(runtime.of(app).plugins.registry["vector_store"], "milvus")
    runtime.of(app).instances.clear()

    with caplog.at_level(logging.WARNING):
        outcomes = kb.drain(tenant)
    assert {outcome for _, outcome in outcomes} == {"ok"}
    assert [row[:3] for row in generations(superuser, tenant)] == [(1, "active", "pgvector")]
    assert vector_hits(search(tenant, QUERY)) == chunks
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("generation 2" in message and "'milvus'" in message for message in warned), warned
    superuser.execute("UPDATE knowledge_indexes SET updated_at = now() - interval '1 hour' "
                      "WHERE workspace_id = %s", (tenant.workspace_id,))
    with runtime.activated(runtime.of(app)):
        knowledge.settle_stale()  # nothing is left building to be queued again
    assert kb.jobs(tenant) == []


def test_workers_started_with_a_new_default_store_rebuild_once(
        tenant, kb, superuser, database, tmp_path, milvus_uri):
    from tests.execution.conftest import WorkerStarter

    chunks = indexed(tenant, kb)
    starter = WorkerStarter(database, tmp_path)
    try:
        starter.several(2, CODEX32_LOAD_PLUGINS="builtin,milvus,pgvector",
                        CODEX32_DEFAULT_PLUGINS="vector_store=milvus", MILVUS_URI=milvus_uri)
        deadline = time.monotonic() + 30
        while (found := search(tenant, QUERY))["generation"] != 2:
            assert time.monotonic() < deadline, generations(superuser, tenant)
            time.sleep(0.1)
        assert vector_hits(found) == chunks
        assert [row[:3] for row in generations(superuser, tenant)] in (
            [(2, "active", "milvus")], [(1, "retired", "pgvector"), (2, "active", "milvus")])
    finally:
        starter.kill_all()
