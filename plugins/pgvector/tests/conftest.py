"""Fixtures for the pgvector plugin tests: the core's real PostgreSQL (tests/conftest.py's
``database``: embedded, with pgvector, migrated) and a runtime on it, as the platform runs."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from codex32_pgvector import PgVectorStore

from codex32.runtime import Runtime, activated, bootstrap
from codex32.testing import WORKSPACE_A, WORKSPACE_B
from tests.conftest import database, make_settings  # noqa: F401  the core's fixture

WORKSPACES = (WORKSPACE_A, WORKSPACE_B)


@pytest.fixture(scope="session")
def pg_runtime(database, tmp_path_factory) -> Iterator[Runtime]:  # noqa: F811
    """A runtime on the runtime role (RLS applies), current for the whole session; the suite's
    workspaces exist (vectors reference their workspace)."""
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        for workspace in WORKSPACES:
            connection.execute("INSERT INTO workspaces (id, name, slug) VALUES (%s, %s, %s) "
                               "ON CONFLICT DO NOTHING",
                               (workspace, f"pgvector {workspace[-1]}",
                                f"pgvector-{workspace[-2:]}"))
    runtime = bootstrap.build(make_settings(tmp_path_factory.mktemp("pgvector")),
                              database.urls, "cli")
    with activated(runtime):
        yield runtime
    runtime.engine.dispose()


@pytest.fixture
def store(pg_runtime) -> Iterator[PgVectorStore]:
    built = PgVectorStore({})
    yield built
    built.close()
