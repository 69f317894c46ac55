"""Collections through the API: names unique per workspace whatever their case, a PATCH that
changes nothing, and the migration that made names unique case-insensitively (0018)."""

from __future__ import annotations

import importlib.util
import uuid

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from codex32.db.migrate import MIGRATIONS_DIR

COLLECTIONS = "/api/v1/collections"


def _create(tenant, name: str, **fields):
    response = tenant.call("POST", COLLECTIONS, json={"name": name, **fields})
    assert response.status_code == 201, response.json
    return response.json


def _updates(tenant, collection_id: str) -> list[dict]:
    return tenant.call("GET", "/api/v1/audit-logs", query_string={
        "action": "collection.update", "resource_id": collection_id}).json["items"]


def test_a_name_differing_only_in_case_is_409_on_create_and_on_rename(tenant, other_tenant):
    docs = _create(tenant, "Docs")
    created = tenant.call("POST", COLLECTIONS, json={"name": "docs"})
    assert created.status_code == 409, created.json
    assert created.json["message"] == "a collection named 'docs' exists in this workspace"
    other = _create(tenant, "Other")
    renamed = tenant.call("PATCH", f"{COLLECTIONS}/{other['id']}", json={"name": "DOCS"})
    assert renamed.status_code == 409, renamed.json
    assert tenant.call("GET", f"{COLLECTIONS}/{other['id']}").json["name"] == "Other"
    assert _updates(tenant, other["id"]) == []
    names = [c["name"] for c in tenant.call("GET", COLLECTIONS).json["items"]]
    assert names == ["Docs", "Other"]
    # A collection may change the case of its own name, and another workspace may use it.
    recased = tenant.call("PATCH", f"{COLLECTIONS}/{docs['id']}", json={"name": "DOCS"})
    assert recased.status_code == 200 and recased.json["name"] == "DOCS"
    _create(other_tenant, "docs")


@pytest.mark.parametrize("body", [{}, {"name": "Same", "description": "kept",
                                       "metadata": {"team": "a"}}], ids=["empty", "equal"])
def test_a_patch_that_changes_nothing_answers_the_collection_and_writes_no_audit_row(
        tenant, body):
    created = _create(tenant, "Same", description="kept", metadata={"team": "a"})
    response = tenant.call("PATCH", f"{COLLECTIONS}/{created['id']}", json=body)
    assert response.status_code == 200, response.json
    assert response.json == created  # updated_at too: nothing changed
    assert _updates(tenant, created["id"]) == []
    changed = tenant.call("PATCH", f"{COLLECTIONS}/{created['id']}",
                          json={**body, "description": "new"})
    assert changed.status_code == 200
    assert [e["changes"] for e in _updates(tenant, created["id"])] == [
        {"description": {"before": "kept", "after": "new"}}]


def _migration():
    spec = importlib.util.spec_from_file_location(
        "migration_0018", MIGRATIONS_DIR / "versions" / "0018_collection_names.py")
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


def test_the_migration_renames_names_that_differ_only_in_case_and_then_enforces_it(
        tenant, other_tenant, database):
    engine = create_engine(database.urls.owner)  # migrations run as the owner role
    rows = [(tenant, "Docs"), (tenant, "docs"), (tenant, "DOCS"), (tenant, "docs (2)"),
            (tenant, "Other"), (other_tenant, "docs")]
    found: dict[str, list[str]] = {}
    try:
        with engine.connect() as connection:
            with Operations.context(MigrationContext.configure(connection)):
                migration = _migration()
                migration.downgrade()  # back to names unique as written
                for number, (workspace, name) in enumerate(rows):
                    connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                                       {"w": workspace.workspace_id})
                    connection.execute(text(
                        "INSERT INTO knowledge_collections (workspace_id, id, name, created_at) "
                        "VALUES (:w, :id, :name, now() + make_interval(secs => :n))"),
                        {"w": workspace.workspace_id, "id": uuid.uuid4(), "name": name,
                         "n": number})
                migration.upgrade()
            for workspace in (tenant, other_tenant):
                connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                                   {"w": workspace.workspace_id})
                found[workspace.workspace_id] = [row[0] for row in connection.execute(text(
                    "SELECT name FROM knowledge_collections ORDER BY created_at"))]
                found[f"{workspace.workspace_id} audit"] = [
                    (row[0], row[1]) for row in connection.execute(text(
                        "SELECT actor_type, changes FROM audit_logs "
                        "WHERE action = 'collection.update' ORDER BY changes::text"))]
            forced = connection.execute(text(
                "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'knowledge_collections'"
            )).scalar()
            connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                               {"w": tenant.workspace_id})
            refused = connection.execute(text(
                "SELECT count(*) FROM pg_indexes WHERE indexname = "
                "'uq_knowledge_collections_name' AND indexdef LIKE '%lower%'")).scalar()
            connection.rollback()
    finally:
        engine.dispose()
    # The oldest keeps its name; the others get the first free " (n)" (never a name in use).
    assert found[tenant.workspace_id] == ["Docs", "docs (3)", "DOCS (4)", "docs (2)", "Other"]
    assert found[other_tenant.workspace_id] == ["docs"]
    assert found[f"{tenant.workspace_id} audit"] == [
        ("system", {"name": {"before": "DOCS", "after": "DOCS (4)"},
                    "reason": "another collection's name differs only in case"}),
        ("system", {"name": {"before": "docs", "after": "docs (3)"},
                    "reason": "another collection's name differs only in case"})]
    assert found[f"{other_tenant.workspace_id} audit"] == []
    assert forced is True and refused == 1
