"""The pgvector store's table: every workspace's vectors, of every dimension, under RLS.

One table for all dimensions: ``embedding`` is a ``real[]`` whose length is ``dimension``, so the
schema never depends on the ``vector`` extension (a server without pgvector migrates the same
way; the store then reports itself unavailable). HNSW needs a fixed dimension per index, not
per table: ``codex32_vector_index(d)`` builds the partial expression index
``hnsw ((embedding::vector(d)) vector_cosine_ops) WHERE dimension = d`` the first time a
dimension is written. It is SECURITY DEFINER (the runtime role owns no table and may not create
indexes), takes only an integer, and serializes builders on an advisory lock. A change of
embedder adds a dimension, and so an index, beside the old one: both stay searchable until the
old vectors are deleted.

The extension itself needs a superuser (pgvector is not a trusted extension): the embedded
server's preparation creates it; elsewhere an operator runs ``CREATE EXTENSION vector`` once
(docs/operations.md). This migration creates it too when the migrating role may.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from codex32.db import rls
from codex32.db.roles import APP_ROLE

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# HNSW indexes ``vector`` up to 2,000 dimensions; larger ones are searched exactly.
MAX_INDEXED_DIMENSION = 2000
INDEX_FUNCTION = "codex32_vector_index(dimension integer)"


def upgrade():
    _create_extension_if_allowed()
    op.create_table(
        "vector_items",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("embedding", ARRAY(sa.REAL()), nullable=False),
        sa.Column("metadata", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("dimension BETWEEN 1 AND 16000", name="ck_vector_items_dimension"),
        sa.CheckConstraint("cardinality(embedding) = dimension",
                           name="ck_vector_items_embedding_length"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "collection", "dimension", "item_id"),
    )
    for statement in rls.tenant_table("vector_items"):
        op.execute(statement)
    op.execute(f"""
        CREATE FUNCTION {INDEX_FUNCTION} RETURNS boolean LANGUAGE plpgsql VOLATILE
        SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        DECLARE
            name text := 'vector_items_hnsw_d' || dimension;
        BEGIN
            IF dimension IS NULL OR dimension < 1 OR dimension > {MAX_INDEXED_DIMENSION}
                    OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
                RETURN false;
            END IF;
            IF to_regclass(name) IS NOT NULL THEN
                RETURN true;
            END IF;
            PERFORM pg_advisory_xact_lock(hashtext('codex32_vector_index'));
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON vector_items USING hnsw '
                           '((embedding::vector(%s)) vector_cosine_ops) '
                           'WITH (m = 16, ef_construction = 64) WHERE dimension = %s',
                           name, dimension, dimension);
            RETURN true;
        END $fn$""")
    op.execute(f"REVOKE ALL ON FUNCTION {INDEX_FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {INDEX_FUNCTION} TO {APP_ROLE}")


def _create_extension_if_allowed():
    """``CREATE EXTENSION vector`` when the server has it and this role may; else nothing."""
    bind = op.get_bind()
    available = bind.execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first()
    installed = bind.execute(sa.text(
        "SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first()
    if not available or installed:
        return
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        savepoint.commit()
    except sa.exc.DBAPIError:
        savepoint.rollback()


def downgrade():
    op.execute(f"DROP FUNCTION IF EXISTS {INDEX_FUNCTION}")
    op.drop_table("vector_items")
