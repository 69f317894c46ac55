"""The worker checks every workspace's knowledge index when it starts.

A change of the operator's settings (the default vector store or embedder in
``CODEX32_DEFAULT_PLUGINS``, milvus's ``MILVUS_URI``) changes where the platform would put a
workspace's vectors without any change of the workspace; the worker finds the workspaces to
check through ``knowledge_workspaces`` (SECURITY DEFINER, ids only, a page at a time after a
cursor: those holding a generation not retired) and checks each under its own binding
(docs/knowledge.md, "The operator's settings"). The auth role reads ``knowledge_indexes``
already (0012).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

from codex32.db import rls
from codex32.db.roles import AUTH_ROLE

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

FUNCTION = "knowledge_workspaces(p_after uuid, p_limit integer)"


def upgrade():
    statements = [
        f"GRANT CREATE ON SCHEMA public TO {AUTH_ROLE}",
        *rls.definer_function(
            FUNCTION, "TABLE(workspace_id uuid)",
            "SELECT DISTINCT workspace_id FROM knowledge_indexes "
            "WHERE status <> 'retired' AND workspace_id > p_after "
            "ORDER BY workspace_id LIMIT p_limit"),
        f"REVOKE CREATE ON SCHEMA public FROM {AUTH_ROLE}",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade():
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
