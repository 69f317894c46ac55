"""The schema keeps its tenancy promises: forced RLS everywhere, a powerless runtime role."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from codex32.db.roles import inspect_runtime_role

# Globally unique columns that are random digests, not names: uniqueness reveals nothing.
GLOBAL_UNIQUE = {("api_keys", "key_hash"), ("invitations", "token_hash"), ("workspaces", "slug")}


def _tenant_tables(superuser) -> list[str]:
    rows = superuser.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = 'public' AND c.column_name = 'workspace_id' "
        "AND t.table_type = 'BASE TABLE'").fetchall()
    return sorted({row[0] for row in rows} | {"workspaces"})


def test_every_tenant_table_has_forced_rls_and_a_policy(superuser):
    tables = _tenant_tables(superuser)
    assert {"bots", "bot_versions", "audit_logs", "memberships", "api_keys"} <= set(tables)
    for table in tables:
        enabled, forced = superuser.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = %s AND relnamespace = 'public'::regnamespace", (table,)).fetchone()
        assert enabled and forced, table
        policies = superuser.execute(
            "SELECT qual, with_check FROM pg_policies WHERE tablename = %s "
            "AND policyname = 'tenant_isolation'", (table,)).fetchall()
        assert len(policies) == 1, table
        qual, check = policies[0]
        assert "current_setting('app.workspace_id'" in qual and qual == check, table


def test_workspace_id_is_not_null_and_leads_the_primary_key(superuser):
    for table in _tenant_tables(superuser):
        if table == "workspaces":
            continue
        nullable = superuser.execute(
            "SELECT is_nullable FROM information_schema.columns WHERE table_name = %s "
            "AND column_name = 'workspace_id'", (table,)).fetchone()[0]
        assert nullable == "NO", table
        first = superuser.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (table,)).fetchone()[0]
        assert first == "workspace_id", table


def test_foreign_keys_between_tenant_tables_include_workspace_id(superuser):
    tenant = set(_tenant_tables(superuser)) - {"workspaces"}
    rows = superuser.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text, "
        "ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = conrelid "
        "AND attnum = ANY(conkey)) FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = 'public'::regnamespace").fetchall()
    checked = 0
    for source, target, columns in rows:
        if source in tenant and target in tenant:
            assert "workspace_id" in columns, (source, target, columns)
            checked += 1
    assert checked >= 3


def test_unique_constraints_are_per_workspace(superuser):
    for table in _tenant_tables(superuser):
        rows = superuser.execute(
            "SELECT i.indexrelid::regclass::text, ARRAY(SELECT attname FROM pg_attribute "
            "WHERE attrelid = i.indrelid AND attnum = ANY(i.indkey)) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND i.indisunique AND NOT i.indisprimary",
            (table,)).fetchall()
        for name, columns in rows:
            if len(columns) == 1 and (table, columns[0]) in GLOBAL_UNIQUE:
                continue
            assert "workspace_id" in columns, (table, name, columns)


def test_runtime_role_is_powerless(database):
    engine = create_engine(database.urls.runtime)
    with engine.connect() as connection:
        report = inspect_runtime_role(connection)
    engine.dispose()
    assert not report.superuser and not report.bypassrls
    assert report.owned_tables == []
    assert report.problems == []


@pytest.mark.parametrize("statement", ["UPDATE audit_logs SET action = 'x'",
                                       "DELETE FROM audit_logs", "TRUNCATE audit_logs"])
def test_runtime_role_cannot_rewrite_the_audit_log(database, statement):
    engine = create_engine(database.urls.runtime)
    with engine.connect() as connection, pytest.raises(DBAPIError, match="permission denied"):
        connection.execute(text(statement))
    engine.dispose()


def test_runtime_role_cannot_switch_rls_off(database):
    engine = create_engine(database.urls.runtime)
    with engine.connect() as connection, pytest.raises(DBAPIError, match="must be owner"):
        connection.execute(text("ALTER TABLE bots NO FORCE ROW LEVEL SECURITY"))
    engine.dispose()


# SECURITY DEFINER functions that must run as the table owner, and why. Everything else runs
# as codex32_auth. codex32_vector_index(integer) builds the pgvector store's HNSW index for one
# dimension (migration 0011): only a table's owner may create its indexes, and its one argument
# is an integer, formatted with %s into a fixed statement.
OWNER_DEFINERS = {"codex32_vector_index": "codex32_owner"}


def test_every_security_definer_function_is_locked_down(superuser):
    rows = superuser.execute(
        "SELECT p.proname, pg_get_userbyid(p.proowner), p.proconfig, "
        "has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc p "
        "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef").fetchall()
    names = {row[0] for row in rows}
    assert {"auth_api_key", "auth_membership", "auth_user_workspaces", "auth_invitation",
            "auth_workspace_id"} <= names
    for name, owner, config, public_can_execute in rows:
        assert owner == OWNER_DEFINERS.get(name, "codex32_auth"), name
        assert any(item.startswith("search_path=") for item in config or []), name
        assert not public_can_execute, name


def test_authentication_binds_only_the_tokens_own_workspace(app, client, tenant, other_tenant):
    from sqlalchemy import text

    from codex32.auth import tokens
    from codex32.auth.principal import membership_role
    from codex32.db import db, tenancy
    from codex32.errors import Unauthorized

    with app.app_context():
        claims = tokens.decode(tenant.access_token, "access")
        assert membership_role(db.session, claims) == "admin"
        assert tenancy.current_workspace() == tenant.workspace_id
        seen = db.session.execute(text("SELECT DISTINCT workspace_id::text FROM memberships")
                                  ).scalars().all()
        assert seen == [tenant.workspace_id]
        db.session.rollback()
        tenancy.unbind()
        forged = {**claims, "ws": other_tenant.workspace_id}
        with pytest.raises(Unauthorized):
            membership_role(db.session, forged)
        assert tenancy.current_workspace() is None
        assert db.session.execute(text("SELECT count(*) FROM memberships")).scalar() == 0
        db.session.rollback()
