"""Knowledge: collections, documents, their chunks (full-text indexed) and index generations.

``knowledge_collections`` group a workspace's documents; ``knowledge_documents`` keep the
uploaded bytes, their content hash (unique per collection: the same upload twice is one
document) and the indexing status; ``knowledge_chunks`` hold the passages of documents and of
bots, each with a generated ``tsvector`` under a GIN index for full-text search and the newest
index generation its vector was written to; ``knowledge_indexes`` are the workspace's index
generations (one per embedder: search reads the active one while the next is built). All are
tenant-owned, with row-level security; foreign keys include ``workspace_id``.

The worker's maintenance loop finds documents and generations left unfinished across
workspaces through ``stale_knowledge`` (a SECURITY DEFINER function returning ids only).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

from codex32.db import rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("knowledge_indexes", "knowledge_collections", "knowledge_documents",
          "knowledge_chunks")
FUNCTION = "stale_knowledge(integer, integer)"


def _workspace() -> sa.Column:
    return sa.Column("workspace_id", sa.UUID(), nullable=False)


def _id() -> sa.Column:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"),
                     nullable=False)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def _owned_by_workspace() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE")


def upgrade():
    op.create_table(
        "knowledge_indexes",
        _workspace(),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("embedder", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("dimension", sa.Integer()),
        sa.Column("status", sa.String(16), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('building', 'active', 'retired')",
                           name="ck_knowledge_indexes_status"),
        _owned_by_workspace(),
        sa.PrimaryKeyConstraint("workspace_id", "generation"),
    )
    op.create_index("uq_knowledge_indexes_active", "knowledge_indexes", ["workspace_id"],
                    unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "knowledge_collections",
        _workspace(),
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("metadata", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_by", sa.UUID()),
        _now("created_at"),
        _now("updated_at"),
        _owned_by_workspace(),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_knowledge_collections_name"),
    )
    op.create_table(
        "knowledge_documents",
        _workspace(),
        _id(),
        sa.Column("collection_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("metadata", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("generation", sa.Integer()),
        sa.Column("chunk_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("job_id", sa.BigInteger()),
        sa.Column("created_by", sa.UUID()),
        _now("created_at"),
        _now("updated_at"),
        sa.Column("indexed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('pending', 'indexing', 'indexed', 'failed')",
                           name="ck_knowledge_documents_status"),
        _owned_by_workspace(),
        sa.ForeignKeyConstraint(["workspace_id", "collection_id"],
                                ["knowledge_collections.workspace_id",
                                 "knowledge_collections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "collection_id", "content_hash",
                            name="uq_knowledge_documents_content"),
    )
    op.create_index("ix_knowledge_documents_collection", "knowledge_documents",
                    ["workspace_id", "collection_id", "created_at"])
    op.create_index("ix_knowledge_documents_unsettled", "knowledge_documents", ["updated_at"],
                    postgresql_where=sa.text("status IN ('pending', 'indexing')"))
    op.create_table(
        "knowledge_chunks",
        _workspace(),
        _id(),
        sa.Column("document_id", sa.UUID()),
        sa.Column("collection_id", sa.UUID()),
        sa.Column("bot_id", sa.UUID()),
        sa.Column("bot_version", sa.Integer()),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading", sa.Text(), server_default="", nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("location", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tsv", TSVECTOR(), sa.Computed(
            "to_tsvector('english'::regconfig, heading || ' ' || text)", persisted=True)),
        sa.CheckConstraint("(document_id IS NULL) <> (bot_id IS NULL)",
                           name="ck_knowledge_chunks_source"),
        _owned_by_workspace(),
        sa.ForeignKeyConstraint(["workspace_id", "document_id"],
                                ["knowledge_documents.workspace_id", "knowledge_documents.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index("ix_knowledge_chunks_tsv", "knowledge_chunks", ["tsv"],
                    postgresql_using="gin")
    op.create_index("ix_knowledge_chunks_document", "knowledge_chunks",
                    ["workspace_id", "document_id", "ordinal"])
    op.create_index("ix_knowledge_chunks_bot", "knowledge_chunks",
                    ["workspace_id", "bot_id", "ordinal"])
    op.create_index("ix_knowledge_chunks_generation", "knowledge_chunks",
                    ["workspace_id", "generation"])
    for statement in _security():
        op.execute(statement)


def _security() -> list[str]:
    statements = [s for table in TABLES for s in rls.tenant_table(table)]
    # The maintenance loop settles what crashed workers left behind in any workspace: ids of
    # documents unsettled for too long, and workspaces with a generation still building.
    statements += rls.auth_lookup("knowledge_documents")
    statements += rls.auth_lookup("knowledge_indexes")
    statements.append("GRANT CREATE ON SCHEMA public TO codex32_auth")
    statements += rls.definer_function(
        "stale_knowledge(p_seconds integer, p_limit integer)",
        "TABLE(workspace_id uuid, document_id uuid)",
        "(SELECT workspace_id, id FROM knowledge_documents "
        " WHERE status IN ('pending', 'indexing') "
        "   AND updated_at < now() - make_interval(secs => p_seconds) "
        " ORDER BY updated_at LIMIT p_limit) "
        "UNION ALL "
        "(SELECT workspace_id, NULL::uuid FROM knowledge_indexes "
        " WHERE status = 'building' AND updated_at < now() - make_interval(secs => p_seconds) "
        " LIMIT p_limit)",
    )
    statements.append("REVOKE CREATE ON SCHEMA public FROM codex32_auth")
    return statements


def downgrade():
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    for table in reversed(TABLES):
        op.drop_table(table)
