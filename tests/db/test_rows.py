"""codex32.db.rows writes several new rows as one statement, all or nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from codex32.db import db, rows, tenancy
from codex32.db.models import AuditLog, Bot, BotVersion


def _rows(workspace_id: str, bot_id: uuid.UUID, version_of: uuid.UUID, name: str):
    now = datetime.now(UTC)
    bot = Bot(workspace_id=uuid.UUID(workspace_id), id=bot_id, name=name, description="",
              status="draft", current_version=1, settings={}, created_at=now, updated_at=now)
    version = BotVersion(workspace_id=uuid.UUID(workspace_id), id=uuid.uuid4(),
                         bot_id=version_of, number=1, code="x = 1\n", files={}, message="m",
                         created_at=now)
    entry = AuditLog(workspace_id=uuid.UUID(workspace_id), id=uuid.uuid4(), actor_type="system",
                     action="test.rows", resource_type="bot", resource_id=str(bot_id),
                     changes={"n": 1})
    return bot, version, entry


def _count(superuser, table: str, workspace_id: str) -> int:
    return superuser.execute(f"SELECT count(*) FROM {table} WHERE workspace_id = %s",
                             (workspace_id,)).fetchone()[0]


def test_a_parent_and_its_child_are_written_in_one_statement(app, tenant, superuser):
    bot_id = uuid.uuid4()
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        rows.insert(db.session, *_rows(tenant.workspace_id, bot_id, bot_id, "chained"))
        db.session.commit()
        db.session.remove()
    assert superuser.execute("SELECT current_version FROM bots WHERE id = %s",
                             (bot_id,)).fetchone() == (1,)
    assert superuser.execute("SELECT count(*) FROM bot_versions WHERE bot_id = %s",
                             (bot_id,)).fetchone() == (1,)
    assert superuser.execute("SELECT changes FROM audit_logs WHERE resource_id = %s",
                             (str(bot_id),)).fetchone() == ({"n": 1},)


def test_a_violation_anywhere_writes_none_of_the_rows(app, tenant, superuser):
    before = {table: _count(superuser, table, tenant.workspace_id)
              for table in ("bots", "bot_versions", "audit_logs")}
    bot_id = uuid.uuid4()
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        # The version names a bot that does not exist: the foreign key fails the statement.
        with pytest.raises(IntegrityError):
            rows.insert(db.session, *_rows(tenant.workspace_id, bot_id, uuid.uuid4(), "orphan"))
        db.session.rollback()
        db.session.remove()
    assert before == {table: _count(superuser, table, tenant.workspace_id)
                      for table in ("bots", "bot_versions", "audit_logs")}


def test_rows_of_another_workspace_are_refused(app, tenant, other_tenant):
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        bot, _, _ = _rows(other_tenant.workspace_id, uuid.uuid4(), uuid.uuid4(), "foreign")
        with pytest.raises(DBAPIError, match="row-level security"):
            rows.insert(db.session, bot)
        db.session.rollback()
        db.session.remove()
