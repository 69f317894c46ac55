"""PgVectorStore beyond the kit's suite: row-level security under the store, one transaction
with the core's writes, the HNSW index and its iterative scans, and a server without pgvector."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from codex32_pgvector import PgVectorStore
from codex32_pgvector.store import nearest_sql
from sqlalchemy import text

from codex32.db import tenancy
from codex32.db.migrate import upgrade
from codex32.plugins.api import ProviderError, VectorItem, database_connection
from codex32.plugins.database import sharing
from codex32.runtime import activated, bootstrap
from codex32.testing import WORKSPACE_A, WORKSPACE_B
from tests.conftest import make_settings


def unit(*values: float) -> list[float]:
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def collection() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def test_row_level_security_hides_other_workspaces_rows_from_any_statement(store):
    """Beneath the store's own condition: a statement with no workspace condition at all, on
    the connection lent for workspace B, sees none of A's rows and cannot write one for A."""
    name = collection()
    store.upsert(WORKSPACE_A, name, [VectorItem("secret", unit(1, 0, 0), {"owner": "a"})])
    store.upsert(WORKSPACE_B, name, [VectorItem("mine", unit(1, 0, 0), {"owner": "b"})])

    with database_connection(WORKSPACE_B) as connection:
        seen = connection.execute(text("SELECT item_id FROM vector_items WHERE collection = :c"),
                                  {"c": name}).scalars().all()
        forged = connection.execute(text(
            "UPDATE vector_items SET metadata = '{\"owner\": \"b\"}' WHERE item_id = 'secret'"))
        assert forged.rowcount == 0
    with pytest.raises(ProviderError, match="row-level security"), \
            store._connection(WORKSPACE_B, "upsert") as connection:
        connection.execute(text(
            "INSERT INTO vector_items (workspace_id, collection, dimension, item_id, embedding) "
            "VALUES (:a, :c, 3, 'planted', '{1,0,0}')"), {"a": WORKSPACE_A, "c": name})

    assert seen == ["mine"]
    assert [h.metadata for h in store.search(WORKSPACE_A, name, unit(1, 0, 0))] == [
        {"owner": "a"}]


def test_vectors_join_the_cores_rows_in_one_transaction(pg_runtime, store):
    """Core code shares its session: the store's upsert and the core's own statement commit or
    roll back together, and one statement reads vectors beside other data."""
    name = collection()
    session = pg_runtime.sessions()
    with tenancy.bound(session, WORKSPACE_A):
        with session.begin(), sharing(session):
            store.upsert(WORKSPACE_A, name, [VectorItem("kept", unit(1, 0, 0), {"n": 1})])
        try:
            with session.begin(), sharing(session):
                store.upsert(WORKSPACE_A, name, [VectorItem("undone", unit(0, 1, 0))])
                raise RuntimeError("the core's write failed")
        except RuntimeError:
            pass
        with session.begin():
            statement = nearest_sql(3)
            rows = session.execute(text(
                f"SELECT n.item_id, w.name FROM ({statement}) AS n "
                "JOIN workspaces w ON w.id = CAST(:workspace AS uuid)"),
                {"workspace": WORKSPACE_A, "collection": name, "query": "[1,0,0]",
                 "top_k": 10}).all()
    session.close()

    assert [tuple(row) for row in rows] == [("kept", "pgvector a")]


def test_the_hnsw_index_serves_filtered_searches_with_iterative_scans(pg_runtime):
    """With the index forced, a workspace whose vectors are far from the query behind many
    nearer ones of another workspace still gets ``top_k`` hits: the scan iterates past
    ``ef_search`` candidates. Without iterative scans the same search comes back short."""
    name, dimension = collection(), 7
    near = [VectorItem(f"a{i}", unit(1, 0.01 * i, 0, 0, 0, 0, 0.5)) for i in range(200)]
    far = [VectorItem(f"b{i}", unit(0.1, 1, 0.1 * i, 0, 0, 0, 0)) for i in range(5)]
    PgVectorStore({}).upsert(WORKSPACE_A, name, near)
    PgVectorStore({}).upsert(WORKSPACE_B, name, far)

    def search(**config) -> tuple[list[str], str]:
        session = pg_runtime.sessions()
        with tenancy.bound(session, WORKSPACE_B), session.begin(), sharing(session):
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_indexscan"):
                session.connection().exec_driver_sql(f"SET LOCAL {setting} = off")
            session.connection().exec_driver_sql("SET LOCAL enable_indexscan = on")
            hits = PgVectorStore({"ef_search": 10, **config}).search(
                WORKSPACE_B, name, unit(1, 0, 0, 0, 0, 0, 0.5), top_k=5)
            statement = nearest_sql(dimension)
            plan = "\n".join(session.execute(text("EXPLAIN " + statement), {
                "workspace": WORKSPACE_B, "collection": name, "top_k": 5,
                "query": "[1,0,0,0,0,0,0.5]"}).scalars())
        session.close()
        return [hit.id for hit in hits], plan

    found, plan = search()
    short, _ = search(iterative_scan="off")

    assert f"vector_items_hnsw_d{dimension}" in plan
    assert sorted(found) == [f"b{i}" for i in range(5)]
    assert len(short) < 5


@pytest.fixture(scope="module")
def without_pgvector(database, tmp_path_factory):
    """A runtime on a database of the same server where pgvector was never created (what a
    server without the extension looks like to the store): migrated all the same."""
    name = "codex32_novector"
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name} OWNER codex32_owner")
        connection.execute(f"GRANT CONNECT ON DATABASE {name} TO codex32_runtime")
    urls = type(database.urls)(runtime=database.urls.runtime.replace("/codex32_test", f"/{name}"),
                               owner=database.urls.owner.replace("/codex32_test", f"/{name}"))
    upgrade(urls.owner, urls.runtime)
    runtime = bootstrap.build(make_settings(tmp_path_factory.mktemp("novector")), urls, "cli")
    yield runtime
    runtime.engine.dispose()


def test_without_pgvector_the_store_says_so_and_never_degrades(pg_runtime, without_pgvector):
    store = PgVectorStore({})
    with activated(without_pgvector):
        health = store.health_check()
        with pytest.raises(ProviderError, match=r"pgvector is unavailable.*CREATE EXTENSION"):
            store.search(WORKSPACE_A, "docs", unit(1, 0))
        with pytest.raises(ProviderError, match="pgvector is unavailable"):
            store.upsert(WORKSPACE_A, "docs", [VectorItem("1", unit(1, 0))])

    assert not health.ok
    assert "not installed" in health.detail and "0.8.6" in health.detail
    assert store.health_check().ok, "the same class on the platform's own database"


def test_health_reports_the_version_and_indexed_dimensions(store):
    store.upsert(WORKSPACE_A, collection(), [VectorItem("x", unit(1, 0, 0, 0, 0))])

    health = store.health_check()

    assert health.ok and health.detail.startswith("pgvector 0.8")
    assert "HNSW" in health.detail


@pytest.mark.parametrize("workspace_id", ['x" or true', "", "*", "1 OR 1=1"])
def test_a_workspace_id_that_is_not_a_uuid_is_refused(store, workspace_id):
    with pytest.raises(ValueError, match="UUID"):
        store.search(workspace_id, "docs", unit(1, 0))
    with pytest.raises(ValueError, match="UUID"):
        store.delete_workspace(workspace_id)


@pytest.mark.parametrize("bad", [
    {"collection": "a b"}, {"collection": "x'; DROP TABLE vector_items; --"},
    {"vector": [0.0, 0.0]}, {"vector": [float("nan"), 1.0]}, {"top_k": 0}, {"top_k": True},
    {"filters": {"tag": ["a"]}}, {"filters": {"bad key!": 1}},
])
def test_bad_input_is_a_value_error(store, bad):
    call = {"workspace_id": WORKSPACE_A, "collection": "docs", "vector": unit(1, 0),
            "top_k": 3, "filters": None, **bad}
    with pytest.raises(ValueError):
        store.search(**call)


def test_deleting_a_workspace_deletes_its_vectors(database, store):
    """The workspace's row going (its data erased) takes its vectors with it (ON DELETE
    CASCADE), whatever the store was told."""
    workspace = str(uuid.uuid4())
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        connection.execute("INSERT INTO workspaces (id, name, slug) VALUES (%s, 'gone', %s)",
                           (workspace, workspace))
        store.upsert(workspace, "docs", [VectorItem("x", unit(1, 0, 0))])
        store.upsert(workspace, "bots", [VectorItem("y", unit(1, 0, 0, 0))])
        connection.execute("DELETE FROM workspaces WHERE id = %s", (workspace,))
        left = connection.execute("SELECT count(*) FROM vector_items WHERE workspace_id = %s",
                                  (workspace,)).fetchone()

    assert left == (0,)
