"""Migration 0022: a stored build that did not pass moves its conversation to 'failed' with
the reason; a passing one stays 'generated'; down again, 'failed' is gone."""

from __future__ import annotations

import importlib.util
import json
import uuid

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from codex32.db.migrate import MIGRATIONS_DIR

INSERT = text("INSERT INTO builder_conversations (workspace_id, id, creator_type, state, "
              "report) VALUES (:w, :id, 'user', 'generated', CAST(:report AS jsonb))")


def _migration():
    spec = importlib.util.spec_from_file_location(
        "migration_0022", MIGRATIONS_DIR / "versions" / "0022_builder_failed_state.py")
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


def test_stored_builds_that_did_not_pass_become_failed_with_their_reason(tenant, database):
    engine = create_engine(database.urls.owner)  # migrations run as the owner role
    failed, passed = uuid.uuid4(), uuid.uuid4()
    try:
        with engine.connect() as connection:  # never committed: rolled back at the end
            with Operations.context(MigrationContext.configure(connection)):
                migration = _migration()
                migration.downgrade()
                bind = text("SELECT set_config('app.workspace_id', :w, true)")
                connection.execute(bind, {"w": tenant.workspace_id})
                for id, report in ((failed, {"passed": False, "stopped": "no template"}),
                                   (passed, {"passed": True, "stopped": None})):
                    connection.execute(INSERT, {"w": tenant.workspace_id, "id": id,
                                                "report": json.dumps(report)})
                migration.upgrade()
                connection.execute(bind, {"w": tenant.workspace_id})
                found = dict(connection.execute(text(
                    "SELECT id, (state, error) FROM builder_conversations WHERE id IN "
                    "(:a, :b)"), {"a": failed, "b": passed}).all())
                migration.downgrade()
                connection.execute(bind, {"w": tenant.workspace_id})
                back = connection.execute(text(
                    "SELECT state FROM builder_conversations WHERE id = :a"),
                    {"a": failed}).scalar()
            connection.rollback()
    finally:
        engine.dispose()
    assert found[failed] == ("failed", "no template")
    assert found[passed] == ("generated", None)
    assert back == "generated"
