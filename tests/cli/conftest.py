"""The ``codex32`` command line, driven in-process against the real test database (or run as
a process where the point is one): the settings each command reads from the environment,
exactly as in production, and throwaway databases of their own for the tests that rewind or
migrate one (a restore never rewinds other tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from codex32.cli import main
from codex32.db import embedded, tenancy
from codex32.db.migrate import upgrade
from codex32.db.urls import DatabaseUrls
from tests.conftest import TestDatabase as DatabaseUnderTest


def url_with(url: str, **parts: str | None) -> str:
    """``url`` with some parts (driver, user, password, database) replaced."""
    return make_url(url).set(**parts).render_as_string(hide_password=False)


def superuser_url(database: DatabaseUnderTest, dbname: str | None = None) -> str:
    """A libpq URL for the server's superuser (``database.superuser_dsn`` may be key=value)."""
    superuser = psycopg.conninfo.conninfo_to_dict(database.superuser_dsn)
    return url_with(database.urls.owner, drivername="postgresql",
                    username=superuser.get("user"), password=superuser.get("password"),
                    database=dbname or make_url(database.urls.owner).database)


def cli_env(database: DatabaseUnderTest, data_dir: Path) -> dict[str, str]:
    """The environment a release step or an operator's shell would give the CLI."""
    return {"DATABASE_URL": database.urls.runtime,
            "MIGRATION_DATABASE_URL": database.urls.owner,
            "BACKUP_DATABASE_URL": superuser_url(database),
            "CODEX32_DATA_DIR": str(data_dir), "CODEX32_ENV": "test",
            "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024"}


@pytest.fixture()
def run(database, tmp_path):
    """Invoke ``codex32 ARGS`` on ``database`` (or another one) and return click's result."""
    runner = CliRunner()

    def invoke(*args: str, on: DatabaseUnderTest = database) -> Result:
        return runner.invoke(main, list(args), env=cli_env(on, tmp_path / "cli-data"),
                             catch_exceptions=False)

    yield invoke
    # The commands run in this process: forget the workspace an import bound.
    tenancy.unbind()


@pytest.fixture()
def empty_database(database) -> Iterator[DatabaseUnderTest]:
    """A database on the same server with its roles and no tables yet, dropped afterwards."""
    name = f"codex32_empty_{uuid.uuid4().hex[:8]}"
    embedded.prepare(superuser_url(database), name)
    urls = DatabaseUrls(runtime=url_with(database.urls.runtime, database=name),
                        owner=url_with(database.urls.owner, database=name))
    yield DatabaseUnderTest(urls=urls, superuser_dsn=superuser_url(database, name), name=name)
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def scratch_database(empty_database) -> DatabaseUnderTest:
    """A second migrated database on the same server, dropped afterwards."""
    upgrade(empty_database.urls.owner, empty_database.urls.runtime)
    return empty_database


def bot_names(tenant) -> list[str]:
    response = tenant.call("GET", "/api/v1/bots?page_size=100")
    assert response.status_code == 200, response.json
    return [bot["name"] for bot in response.json["items"]]
