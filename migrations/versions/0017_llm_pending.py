"""A chat's ledger row is written before the provider is called, as ``pending``.

The budget reservation's statement inserts the row (``status = 'pending'``) with what it
reserved: ``reserved_usd`` (the request's maximum cost, NULL when a price is unknown) and
``reserved_budgets`` (``[[budget id, period start], ...]``). The answer's record replaces it
(an upsert on the same key). A row a process left pending (it ended between the call and the
record) is settled by the worker's maintenance loop at its reserved maximum, status
``unsettled``: ``pending_llm_workspaces`` (SECURITY DEFINER, reading only the workspace, status
and time columns) lists the workspaces holding such rows, each then swept under its own
binding. The partial index keeps that lookup off the rest of the ledger (docs/llm-gateway.md,
"Recorded after the answer").

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex32.db import rls
from codex32.db.roles import AUTH_ROLE

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

FUNCTION = "pending_llm_workspaces(p_before timestamptz, p_limit integer)"


def upgrade():
    op.add_column("llm_usage", sa.Column("reserved_usd", sa.Numeric(20, 10), nullable=True))
    op.add_column("llm_usage", sa.Column("reserved_budgets",
                                         postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_index("ix_llm_usage_pending", "llm_usage", ["created_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    statements = [
        f"CREATE POLICY auth_lookup ON llm_usage FOR SELECT TO {AUTH_ROLE} USING (true)",
        f"GRANT SELECT (workspace_id, status, created_at) ON llm_usage TO {AUTH_ROLE}",
        f"GRANT CREATE ON SCHEMA public TO {AUTH_ROLE}",
        *rls.definer_function(
            FUNCTION, "TABLE(workspace_id uuid)",
            "SELECT DISTINCT workspace_id FROM llm_usage "
            "WHERE status = 'pending' AND created_at < p_before LIMIT p_limit"),
        f"REVOKE CREATE ON SCHEMA public FROM {AUTH_ROLE}",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade():
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    op.execute(f"REVOKE SELECT (workspace_id, status, created_at) ON llm_usage FROM {AUTH_ROLE}")
    op.execute("DROP POLICY IF EXISTS auth_lookup ON llm_usage")
    op.drop_index("ix_llm_usage_pending", table_name="llm_usage")
    op.drop_column("llm_usage", "reserved_budgets")
    op.drop_column("llm_usage", "reserved_usd")
