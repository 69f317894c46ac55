"""The runtime-role guard at start-up: a role that could switch row-level security off.

A superuser (or BYPASSRLS) runtime always refuses to start. A runtime that owns the tables (the
single-role plan of some PaaS) warns in development and refuses in production unless allowed.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from codex32.app import create_app
from codex32.db.roles import UnsafeRuntimeRole
from codex32.db.urls import DatabaseUrls
from codex32.runtime import of as runtime_of
from tests.conftest import make_settings


@pytest.fixture()
def superuser_urls(database) -> DatabaseUrls:
    """The test database with the server's superuser as the runtime role."""
    superuser = psycopg.conninfo.conninfo_to_dict(database.superuser_dsn)
    runtime = make_url(database.urls.owner).set(username=superuser.get("user"),
                                                password=superuser.get("password"))
    return DatabaseUrls(runtime=runtime.render_as_string(hide_password=False),
                        owner=database.urls.owner)


@pytest.fixture()
def owner_urls(database) -> DatabaseUrls:
    """The test database with the table owner as the runtime role."""
    return DatabaseUrls(runtime=database.urls.owner, owner=database.urls.owner)


def production_settings(tmp_path, database, **overrides):
    """Production settings that pass every other check, so only the role decides."""
    return make_settings(tmp_path, env="production", database_url=database.urls.owner,
                         signup_mode="token", platform_token="p" * 32, **overrides)


def test_the_separate_runtime_role_starts_without_warnings(app):
    assert runtime_of(app).warnings == []


@pytest.mark.parametrize("env", ["development", "production"])
def test_a_superuser_runtime_role_refuses_to_start(tmp_path, database, superuser_urls, env):
    settings = make_settings(tmp_path, env=env, allow_owner_runtime=True)

    with pytest.raises(UnsafeRuntimeRole) as refused:
        create_app(settings, superuser_urls)

    assert "is a superuser" in str(refused.value)
    assert "DATABASE_URL" in str(refused.value)


def test_a_table_owner_runtime_role_starts_with_a_warning_in_development(tmp_path,
                                                                         owner_urls):
    app = create_app(make_settings(tmp_path, env="development"), owner_urls)

    [warning] = runtime_of(app).warnings
    assert "codex32_owner owns tables" in warning
    assert "row-level security" in warning


def test_a_table_owner_runtime_role_refuses_to_start_in_production(tmp_path, database,
                                                                   owner_urls):
    with pytest.raises(UnsafeRuntimeRole) as refused:
        create_app(production_settings(tmp_path, database), owner_urls)

    assert "owns tables" in str(refused.value)
    assert "CODEX32_ALLOW_OWNER_RUNTIME=1" in str(refused.value)


def test_production_starts_on_a_table_owner_when_the_operator_allows_it(tmp_path, database,
                                                                        owner_urls):
    app = create_app(production_settings(tmp_path, database, allow_owner_runtime=True),
                     owner_urls)

    [warning] = runtime_of(app).warnings
    assert "owns tables" in warning
    assert app.test_client().get("/health/alive").status_code == 200


def test_skipped_startup_checks_do_not_inspect_the_role(tmp_path, superuser_urls):
    app = create_app(make_settings(tmp_path, startup_checks=False), superuser_urls)

    assert runtime_of(app).warnings == []


def test_release_step_creates_a_missing_runtime_role_with_its_grants(database, superuser):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from codex32.db.migrate import upgrade
    from codex32.db.roles import inspect_runtime_role

    superuser.execute("DROP ROLE IF EXISTS codex32_fresh_runtime")
    runtime = make_url(database.urls.runtime).set(username="codex32_fresh_runtime",
                                                   password="fresh-pass")
    url = runtime.render_as_string(hide_password=False)
    try:
        upgrade(database.urls.owner, url)
        engine = create_engine(url)
        with engine.connect() as connection:
            report = inspect_runtime_role(connection)
            assert report.problems == []
            assert connection.execute(text("SELECT count(*) FROM bots")).scalar() == 0
        engine.dispose()
    finally:
        superuser.execute(f"REVOKE ALL ON DATABASE {database.name} FROM codex32_fresh_runtime")
        superuser.execute("DROP OWNED BY codex32_fresh_runtime")
        superuser.execute("DROP ROLE codex32_fresh_runtime")
