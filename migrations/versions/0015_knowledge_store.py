"""An index generation records the vector store its vectors live in.

``knowledge_indexes.vector_store`` is the store plugin's id and ``store_config`` the
workspace's configuration of it when the generation was started (as saved: secrets are never
part of a configuration, they stay encrypted in ``provider_configs``). A change of store, or of
a setting that decides where the store keeps vectors, starts a new generation; search reads the
active one from the store it recorded, and a retired one is dropped from there.

Generations written before this revision were written to the workspace's store of the time,
which was not recorded. Each is given the best guess there is: pgvector when the platform's
own ``vector_items`` holds vectors of it (exact); else its workspace's store now, as the
platform would choose it: the workspace's default (``settings.defaults.vector_store``), else
the operator's (``CODEX32_DEFAULT_PLUGINS`` in the environment this migration runs in), else
``pgvector`` (the kind's default); but a generation that has vectors (a dimension) of which
pgvector holds none, where that choice is pgvector, was written elsewhere: to milvus, the
platform's default before pgvector (docs/operations.md, "Upgrading from a release whose
default was milvus"). The configuration recorded is the workspace's configuration of that
store now. A wrong guess costs one rebuild, not silence: the next upload (or change of store)
sees a store other than the workspace's and re-indexes into it. Row-level security is forced
on these tables for their owner too, so it is lifted for the one statement, inside the
migration's transaction.

Revision ID: 0015
Revises: 0014
"""

import os

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0015", "0014"
branch_labels = depends_on = None

KIND_DEFAULT = "pgvector"  # codex32.plugins.interfaces.VectorStore's default at this revision
BEFORE_PGVECTOR = "milvus"  # the platform's default vector store before pgvector
READ = ("knowledge_indexes", "workspaces", "provider_configs", "vector_items")  # forced RLS
BACKFILL = sa.text(
    "WITH guess AS (SELECT k.workspace_id, k.generation, CASE "
    "  WHEN EXISTS (SELECT 1 FROM vector_items v WHERE v.workspace_id = k.workspace_id "
    "               AND v.collection = 'knowledge_g' || k.generation) THEN 'pgvector' "
    "  WHEN w.store = 'pgvector' AND k.dimension IS NOT NULL THEN :before "
    "  ELSE w.store END AS store "
    "  FROM knowledge_indexes k JOIN (SELECT id, COALESCE("
    "    settings #>> '{defaults,vector_store}', :platform) AS store FROM workspaces) w "
    "  ON w.id = k.workspace_id) "
    "UPDATE knowledge_indexes k SET vector_store = g.store, "
    "store_config = COALESCE(p.config, '{}'::jsonb) "
    "FROM guess g LEFT JOIN provider_configs p ON p.workspace_id = g.workspace_id "
    "AND p.kind = 'vector_store' AND p.plugin_id = g.store "
    "WHERE k.workspace_id = g.workspace_id AND k.generation = g.generation")


def _operator_default() -> str:
    """The operator's default store (``CODEX32_DEFAULT_PLUGINS``: ``kind=id,kind=id``)."""
    for part in os.environ.get("CODEX32_DEFAULT_PLUGINS", "").split(","):
        kind, _, plugin_id = part.partition("=")
        if kind.strip() == "vector_store" and plugin_id.strip():
            return plugin_id.strip()
    return KIND_DEFAULT


def upgrade():
    op.add_column("knowledge_indexes", sa.Column("vector_store", sa.String(100)))
    op.add_column("knowledge_indexes", sa.Column(
        "store_config", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False))
    for table in READ:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.get_bind().execute(BACKFILL, {"platform": _operator_default(),
                                     "before": BEFORE_PGVECTOR})
    for table in READ:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.alter_column("knowledge_indexes", "vector_store", nullable=False)


def downgrade():
    op.drop_column("knowledge_indexes", "store_config")
    op.drop_column("knowledge_indexes", "vector_store")
