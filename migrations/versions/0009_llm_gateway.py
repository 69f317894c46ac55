"""The LLM gateway's tables: usage ledger, budgets, cooldowns and response cache.

``llm_usage`` is the ledger (one row per request, cost as an exact decimal, NULL when the
price is unknown); ``llm_budgets`` holds limits and the current period's spend and
reservations; ``llm_cooldowns`` the failures per (provider, model) shared by every process;
``llm_cache`` the workspace's cached answers. All are tenant-owned, with row-level security.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from codex32.db import rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def _workspace() -> list:
    return [sa.Column("workspace_id", sa.UUID(), nullable=False)]


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def upgrade():
    op.create_table(
        "llm_usage",
        *_workspace(),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        _now("created_at"),
        sa.Column("kind", sa.String(16), server_default="chat", nullable=False),
        sa.Column("provider", sa.String(100)),
        sa.Column("model", sa.String(200)),
        sa.Column("requested_model", sa.String(200)),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("user_id", sa.UUID()),
        sa.Column("api_key_id", sa.UUID()),
        sa.Column("bot_id", sa.UUID()),
        sa.Column("execution_id", sa.UUID()),
        sa.Column("conversation_id", sa.String(100)),
        *[sa.Column(name, sa.Integer(), server_default="0", nullable=False)
          for name in ("input_tokens", "cached_input_tokens", "output_tokens",
                       "reasoning_tokens", "latency_ms")],
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("cache_hit", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("cost_usd", MONEY),
        sa.Column("attempts", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index("ix_llm_usage_workspace_created", "llm_usage",
                    ["workspace_id", "created_at"])
    op.create_table(
        "llm_budgets",
        *_workspace(),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.UUID()),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("soft_limit_usd", MONEY),
        sa.Column("hard_limit_usd", MONEY),
        sa.Column("period_start", sa.DateTime(timezone=True)),
        sa.Column("spent_usd", MONEY, server_default="0", nullable=False),
        sa.Column("reserved_usd", MONEY, server_default="0", nullable=False),
        sa.Column("notified", sa.Boolean(), server_default="false", nullable=False),
        _now("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "scope", "scope_id", "period",
                            name="uq_llm_budgets_scope", postgresql_nulls_not_distinct=True),
    )
    op.create_table(
        "llm_cooldowns",
        *_workspace(),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        _now("window_start"),
        sa.Column("cooldown_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(32)),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "provider", "model"),
    )
    op.create_table(
        "llm_cache",
        *_workspace(),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("response", JSONB(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _now("created_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "key"),
    )
    op.create_index("ix_llm_cache_workspace_expires", "llm_cache",
                    ["workspace_id", "expires_at"])
    for table in ("llm_usage", "llm_budgets", "llm_cooldowns", "llm_cache"):
        for statement in rls.tenant_table(table):
            op.execute(statement)


def downgrade():
    op.drop_table("llm_cache")
    op.drop_table("llm_cooldowns")
    op.drop_table("llm_budgets")
    op.drop_index("ix_llm_usage_workspace_created", table_name="llm_usage")
    op.drop_table("llm_usage")
