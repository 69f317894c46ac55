"""The AI bot builder's conversations and their turns (issue 12).

``builder_conversations`` holds one conversation: who started it, the bot it refines (if
any), the current specification, its state (gathering, ready, generated, accepted), the queue
job generating it with the running step and the progress events so far, and the last build
report. ``builder_turns`` holds its turns in order, each assistant turn with its questions,
suggestions and a snapshot of the specification. Both are tenant-owned, with row-level
security.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from codex32.db import rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def _json(name: str, default: str | None = "'{}'::jsonb") -> sa.Column:
    if default is None:
        return sa.Column(name, JSONB())
    return sa.Column(name, JSONB(), server_default=sa.text(default), nullable=False)


def upgrade():
    op.create_table(
        "builder_conversations",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("creator_type", sa.String(16), nullable=False),
        sa.Column("created_by", sa.UUID()),
        sa.Column("bot_id", sa.UUID()),
        sa.Column("title", sa.String(255), server_default="", nullable=False),
        _json("specification"),
        _json("settled"),
        sa.Column("source", sa.String(16), server_default="heuristics", nullable=False),
        sa.Column("state", sa.String(16), server_default="gathering", nullable=False),
        sa.Column("turns", sa.Integer(), server_default="0", nullable=False),
        sa.Column("job_id", sa.BigInteger()),
        sa.Column("step", sa.String(64)),
        _json("progress", "'[]'::jsonb"),
        _json("report", None),
        sa.Column("error", sa.Text()),
        sa.Column("accepted_version", sa.Integer()),
        _now("created_at"),
        _now("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                                ondelete="SET NULL (bot_id)"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.CheckConstraint("state IN ('gathering', 'ready', 'generated', "
                           "'accepted')", name="ck_builder_conversations_state"),
    )
    op.create_index("ix_builder_conversations_recent", "builder_conversations",
                    ["workspace_id", sa.text("created_at DESC"), "id"])
    op.create_table(
        "builder_turns",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), server_default="", nullable=False),
        _json("answers"),
        _json("questions", "'[]'::jsonb"),
        _json("suggestions", "'[]'::jsonb"),
        _json("specification", None),
        sa.Column("source", sa.String(16)),
        sa.Column("state", sa.String(16)),
        _now("created_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "conversation_id"],
                                ["builder_conversations.workspace_id",
                                 "builder_conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "conversation_id", "number",
                            name="uq_builder_turns_number"),
    )
    for table in ("builder_conversations", "builder_turns"):
        for statement in rls.tenant_table(table):
            op.execute(statement)


def downgrade():
    op.drop_table("builder_turns")
    op.drop_index("ix_builder_conversations_recent", table_name="builder_conversations")
    op.drop_table("builder_conversations")
