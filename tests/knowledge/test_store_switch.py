"""A change of vector store re-indexes like a change of embedder: a generation records the
store it lives in (plugin and configuration), search keeps reading the active generation from
its own store while the new one builds in the new store, and the retired generation's vectors
are dropped from the store that held them. Real stores: pgvector in the test database and the
session's milvus-lite server."""

from __future__ import annotations

import importlib.util

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from codex32.db.migrate import MIGRATIONS_DIR
from tests.conftest import sign_up
from tests.knowledge.conftest import collection, search, upload_text, use_milvus

pytestmark = pytest.mark.usefixtures("milvus_uri")

TEXT = "Restart the payment gateway after every deploy, then watch the error rate."
QUERY = "payment gatewey restarts"


def vector_hits(found: dict) -> set[str]:
    """The chunks the vector half of a search found."""
    return {hit["chunk_id"] for hit in found["items"] if hit["scores"]["vector"] is not None}


def generations(superuser, tenant) -> list[tuple]:
    return superuser.execute(
        "SELECT generation, status, vector_store, store_config FROM knowledge_indexes "
        "WHERE workspace_id = %s ORDER BY generation", (tenant.workspace_id,)).fetchall()


def configure_milvus(tenant, **config) -> None:
    put = tenant.call("PUT", "/api/v1/providers/vector_store/milvus",
                      json={"config": config, "secrets": {}})
    assert put.status_code == 200, put.json


def indexed_in_milvus(tenant, kb, prefix: str) -> set[str]:
    """Index a document into milvus under ``prefix``; returns its chunk ids."""
    configure_milvus(tenant, collection_prefix=prefix)
    use_milvus(tenant)
    upload_text(tenant, collection(tenant), "Ops", TEXT)
    kb.drain(tenant)
    return {c["id"] for c in kb.chunks(tenant)}


def test_switching_the_vector_store_rebuilds_in_the_new_store_while_search_reads_the_old(
        client, tenant, kb, superuser):
    other = sign_up(client)
    for workspace in (tenant, other):
        upload_text(workspace, collection(workspace), "Ops", TEXT)
    kb.drain(tenant, other)
    chunks = {c["id"] for c in kb.chunks(tenant)}
    before = search(tenant, QUERY)
    assert before["generation"] == 1 and vector_hits(before) == chunks
    assert kb.vector_ids(tenant, 1, store="pgvector") == chunks
    other_vectors = kb.vector_ids(other, store="pgvector")

    use_milvus(tenant)  # pgvector -> milvus
    assert "codex32.reindex" in [task for _, task, _ in kb.jobs(tenant)]
    assert [row[:3] for row in generations(superuser, tenant)] == [
        (1, "active", "pgvector"), (2, "building", "milvus")]
    during = search(tenant, QUERY)  # the active generation, read from pgvector where it lives
    assert during["generation"] == 1 and during["vector_search"]
    assert vector_hits(during) == chunks

    kb.drain(tenant)
    after = search(tenant, QUERY)
    assert after["generation"] == 2 and after["vector_search"] and vector_hits(after) == chunks
    assert kb.vector_ids(tenant, 2, store="milvus") == chunks
    assert kb.vector_ids(tenant, 1, store="pgvector") == set()  # dropped from the OLD store
    assert [row[:3] for row in generations(superuser, tenant)] == [(2, "active", "milvus")]

    # The other workspace was not touched: same generation, same vectors, no jobs.
    assert [row[:3] for row in generations(superuser, other)] == [(1, "active", "pgvector")]
    assert kb.vector_ids(other, store="pgvector") == other_vectors
    assert kb.jobs(other) == [] and search(other, QUERY)["vector_search"]


def test_changing_the_store_s_configuration_rebuilds_and_drops_from_the_old_location(
        tenant, kb, superuser):
    chunks = indexed_in_milvus(tenant, kb, "alpha")
    alpha, beta = {"collection_prefix": "alpha"}, {"collection_prefix": "beta"}
    assert kb.vector_ids(tenant, 1, store="milvus", config=alpha) == chunks
    recorded = generations(superuser, tenant)[0][3]

    configure_milvus(tenant, collection_prefix="beta")  # same plugin, another place
    rows = generations(superuser, tenant)
    assert [row[:3] for row in rows] == [(1, "active", "milvus"), (2, "building", "milvus")]
    assert rows[1][3] != recorded
    during = search(tenant, QUERY)  # read from "alpha", where generation 1 lives
    assert during["generation"] == 1 and vector_hits(during) == chunks

    kb.drain(tenant)
    after = search(tenant, QUERY)
    assert after["generation"] == 2 and vector_hits(after) == chunks
    assert kb.vector_ids(tenant, 2, store="milvus", config=beta) == chunks
    assert kb.vector_ids(tenant, 1, store="milvus", config=alpha) == set()


def test_switching_back_before_the_build_completes_keeps_the_active_generation(
        tenant, kb, superuser):
    upload_text(tenant, collection(tenant), "Ops", TEXT)
    kb.drain(tenant)
    chunks = {c["id"] for c in kb.chunks(tenant)}
    use_milvus(tenant)
    back = tenant.call("PATCH", "/api/v1/workspace",
                       json={"settings": {"defaults": {"vector_store": "pgvector"}}})
    assert back.status_code == 200, back.json
    assert [row[:3] for row in generations(superuser, tenant)] == [
        (1, "active", "pgvector"), (2, "retired", "milvus")]
    kb.drain(tenant)  # the abandoned build does nothing; its generation is dropped
    assert [row[:3] for row in generations(superuser, tenant)] == [(1, "active", "pgvector")]
    assert vector_hits(search(tenant, QUERY)) == chunks


def test_a_setting_that_only_tunes_searches_rebuilds_nothing(tenant, kb, superuser):
    upload_text(tenant, collection(tenant), "Ops", TEXT)
    kb.drain(tenant)
    put = tenant.call("PUT", "/api/v1/providers/vector_store/pgvector",
                      json={"config": {"ef_search": 40}, "secrets": {}})  # not its placement
    assert put.status_code == 200, put.json
    chosen = tenant.call("PATCH", "/api/v1/workspace",
                         json={"settings": {"defaults": {"vector_store": "pgvector"}}})
    assert chosen.status_code == 200, chosen.json
    assert [row[:3] for row in generations(superuser, tenant)] == [(1, "active", "pgvector")]
    assert kb.jobs(tenant) == []


def test_a_store_only_rebuild_takes_its_vectors_from_the_embedding_cache(
        tenant, kb, superuser):
    upload_text(tenant, collection(tenant), "Ops", TEXT)
    upload_text(tenant, collection(tenant, "more"), "Billing", "Invoices go out monthly.")
    kb.drain(tenant)
    use_milvus(tenant)
    kb.drain(tenant)
    rows = superuser.execute(
        "SELECT cache_hit, count(*) FROM llm_usage WHERE workspace_id = %s AND kind = "
        "'embedding' AND purpose = 'search' GROUP BY cache_hit ORDER BY cache_hit",
        (tenant.workspace_id,)).fetchall()
    # Indexing embedded each document once (misses); the rebuild's one batch was answered
    # wholly from the cache: nothing was paid to the embedder again.
    assert dict(rows) == {False: 2, True: 1}


@pytest.mark.parametrize("operator_default", [None, "milvus"])
def test_the_migration_gives_existing_generations_the_store_they_were_written_to(
        client, tenant, database, superuser, monkeypatch, operator_default):
    chooser, default = tenant, sign_up(client)
    configure_milvus(chooser, collection_prefix="alpha")
    use_milvus(chooser)
    rows = [(chooser, 1, None),  # nothing written yet: its workspace's choice
            (chooser, 2, 8),     # pgvector holds its vectors: switched before the upgrade
            (default, 1, 8),     # likewise
            (default, 2, 8),     # written, not to pgvector
            (default, 3, None)]  # the operator's default, else pgvector
    for workspace, generation, dimension in rows:
        superuser.execute(
            "INSERT INTO knowledge_indexes (workspace_id, generation, embedder, fingerprint, "
            "vector_store, status, dimension) VALUES (%s, %s, 'hashing', 'hashing:x', "
            "'unknown', 'retired', %s)", (workspace.workspace_id, generation, dimension))
    for workspace in (chooser, default):
        superuser.execute(
            "INSERT INTO vector_items (workspace_id, collection, dimension, item_id, "
            "embedding) VALUES (%s, 'knowledge_g' || %s, 8, 'c1', %s)",
            (workspace.workspace_id, 2 if workspace is chooser else 1, [1.0] + [0.0] * 7))
    if operator_default:
        monkeypatch.setenv("CODEX32_DEFAULT_PLUGINS", f"vector_store={operator_default}")
    else:
        monkeypatch.delenv("CODEX32_DEFAULT_PLUGINS", raising=False)
    spec = importlib.util.spec_from_file_location(
        "migration_0015", MIGRATIONS_DIR / "versions" / "0015_knowledge_store.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    engine = create_engine(database.urls.owner)  # migrations run as the owner role
    found = {}
    try:
        with engine.connect() as connection:
            with Operations.context(MigrationContext.configure(connection)):
                migration.downgrade()  # back to 0014's table, then forward with the backfill
                migration.upgrade()
            for workspace in (chooser, default):  # row-level security holds for the owner
                connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                                   {"w": workspace.workspace_id})
                found[workspace.workspace_id] = [tuple(row) for row in connection.execute(text(
                    "SELECT generation, vector_store, store_config FROM knowledge_indexes "
                    "ORDER BY generation"))]
            forced = connection.execute(text(
                "SELECT bool_and(relforcerowsecurity) FROM pg_class WHERE relname IN "
                "('knowledge_indexes', 'workspaces', 'provider_configs', 'vector_items')")
            ).scalar()
            connection.rollback()
    finally:
        engine.dispose()
    assert found[chooser.workspace_id] == [(1, "milvus", {"collection_prefix": "alpha"}),
                                           (2, "pgvector", {})]
    assert found[default.workspace_id] == [(1, "pgvector", {}), (2, "milvus", {}),
                                           (3, operator_default or "pgvector", {})]
    assert forced is True


def test_erasing_during_a_switch_deletes_from_the_place_the_old_generation_lives(
        tenant, kb, superuser):
    chunks, alpha = indexed_in_milvus(tenant, kb, "alpha"), {"collection_prefix": "alpha"}
    dimension = superuser.execute(
        "SELECT dimension FROM knowledge_indexes WHERE workspace_id = %s",
        (tenant.workspace_id,)).fetchone()[0]
    configure_milvus(tenant, collection_prefix="beta")  # generation 2 queued, not built
    assert kb.vector_ids(tenant, 1, store="milvus", config=alpha) == chunks
    erased = tenant.call("DELETE", "/api/v1/workspace/knowledge")
    assert erased.status_code == 202, erased.json
    kb.drain(tenant)
    # "alpha" is no configuration of the workspace any more; generation 1 recorded it.
    assert kb.vector_ids(tenant, 1, store="milvus", config=alpha, dimension=dimension) == set()
