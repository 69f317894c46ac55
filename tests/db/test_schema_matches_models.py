"""The migrations and the models describe the same schema: alembic's autogenerate, run against
the migrated database, finds nothing to change (so a model edited without its migration, or a
migration without its model, fails here)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from codex32.db import (
    Model,
    account_models,
    builder_models,
    gateway_models,
    knowledge_models,
    oidc_models,
)

MODULES = (account_models, builder_models, gateway_models, knowledge_models,
           oidc_models)  # all mapped


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Only the platform's tables: the job queue's (procrastinate) and alembic's own are not
    described by our models."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = name if type_ == "table" else getattr(table, "name", None)
    return table_name is None or table_name in Model.metadata.tables


def test_autogenerate_finds_no_difference_between_the_models_and_the_migrations(database):
    engine = sa.create_engine(database.urls.owner)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": _ours})
            differences = compare_metadata(context, Model.metadata)
    finally:
        engine.dispose()
    assert differences == [], "\n".join(map(str, differences))
