"""Bot secrets, notification deliveries, and the plugin behind a provider configuration.

``bot_secrets`` holds the secrets bots read as ``context.secrets``: workspace-wide rows (no
``bot_id``) and one bot's own rows, each value encrypted under CODEX32_SECRETS_KEYS.
``notification_deliveries`` records each notifier's delivery of an execution's event, so a
failing notifier is visible through the API rather than only in the worker's log.
``provider_configs.plugin`` remembers which entry point provided a configured plugin, so a
configuration whose plugin no longer loads can name the broken plugin.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from codex32.db import rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bot_secrets",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bot_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index("uq_bot_secrets_workspace_name", "bot_secrets", ["workspace_id", "name"],
                    unique=True, postgresql_where=sa.text("bot_id IS NULL"))
    op.create_index("uq_bot_secrets_bot_name", "bot_secrets",
                    ["workspace_id", "bot_id", "name"], unique=True,
                    postgresql_where=sa.text("bot_id IS NOT NULL"))
    op.create_table(
        "notification_deliveries",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("execution_id", sa.UUID(), nullable=False),
        sa.Column("notifier", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "execution_id"],
                                ["bot_executions.workspace_id", "bot_executions.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "execution_id", "notifier", "event",
                            name="uq_notification_deliveries_target"),
    )
    op.add_column("provider_configs", sa.Column("plugin", sa.String(length=255), nullable=True))
    for table in ("bot_secrets", "notification_deliveries"):
        for statement in rls.tenant_table(table):
            op.execute(statement)


def downgrade():
    op.drop_column("provider_configs", "plugin")
    op.drop_table("notification_deliveries")
    op.drop_index("uq_bot_secrets_bot_name", table_name="bot_secrets")
    op.drop_index("uq_bot_secrets_workspace_name", table_name="bot_secrets")
    op.drop_table("bot_secrets")
