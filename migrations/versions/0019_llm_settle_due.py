"""A ledger row whose budget settlement is still due is marked, for the sweep to settle.

An answer's record commits its ledger row, then settles the budgets in a transaction of its
own (budgets.settlement_apart): a settlement that failed in between (its connection lost, a
statement refused) left the reservation standing until the budget's period ended, since the
sweep settled pending rows only. ``settle_due`` is true on a row written over a pending one
that reserved on a budget; the settlement clears it in its own transaction and settles only
when it did (so each reservation is settled once, by whichever comes first), and the
worker's maintenance loop settles rows still marked after an hour (their ``reserved_usd``
back, their ``cost_usd`` spent). ``pending_llm_workspaces`` lists the workspaces holding
either kind of row; the partial index keeps that lookup off the rest of the ledger
(docs/llm-gateway.md, "Recorded after the answer").

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

from codex32.db import rls
from codex32.db.roles import AUTH_ROLE

revision, down_revision = "0019", "0018"
branch_labels = depends_on = None

FUNCTION = "pending_llm_workspaces(p_before timestamptz, p_limit integer)"
PENDING_ONLY = ("SELECT DISTINCT workspace_id FROM llm_usage "
                "WHERE status = 'pending' AND created_at < p_before LIMIT p_limit")
PENDING_OR_DUE = (
    "SELECT DISTINCT workspace_id FROM ("
    "SELECT workspace_id FROM llm_usage WHERE status = 'pending' AND created_at < p_before "
    "UNION ALL "
    "SELECT workspace_id FROM llm_usage WHERE settle_due AND created_at < p_before) AS due "
    "LIMIT p_limit")


def _function(body: str) -> None:
    for statement in (f"DROP FUNCTION IF EXISTS {FUNCTION}",
                      f"GRANT CREATE ON SCHEMA public TO {AUTH_ROLE}",
                      *rls.definer_function(FUNCTION, "TABLE(workspace_id uuid)", body),
                      f"REVOKE CREATE ON SCHEMA public FROM {AUTH_ROLE}"):
        op.execute(statement)


def upgrade():
    op.add_column("llm_usage", sa.Column("settle_due", sa.Boolean(), nullable=False,
                                         server_default=sa.text("false")))
    op.create_index("ix_llm_usage_settle_due", "llm_usage", ["created_at"],
                    postgresql_where=sa.text("settle_due"))
    op.execute(f"GRANT SELECT (settle_due) ON llm_usage TO {AUTH_ROLE}")
    _function(PENDING_OR_DUE)


def downgrade():
    _function(PENDING_ONLY)
    op.execute(f"REVOKE SELECT (settle_due) ON llm_usage FROM {AUTH_ROLE}")
    op.drop_index("ix_llm_usage_settle_due", table_name="llm_usage")
    op.drop_column("llm_usage", "settle_due")
