"""Initial schema: identities, workspaces, members, keys, bots, versions, executions, audit.

Every workspace-owned table gets forced row-level security in this same migration.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:50:23.540729
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex32.db import rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "token_blocklist",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index(
        op.f("ix_token_blocklist_expires_at"), "token_blocklist", ["expires_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_users_email", "users", [sa.literal_column("lower(email)")], unique=True)
    op.create_table(
        "workspaces",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "api_keys",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_api_keys_name"),
    )
    op.create_table(
        "audit_logs",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=True),
        sa.Column(
            "changes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index(
        "ix_audit_logs_recent",
        "audit_logs",
        ["workspace_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_audit_logs_resource",
        "audit_logs",
        ["workspace_id", "resource_type", "resource_id"],
        unique=False,
    )
    op.create_table(
        "bots",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=32), server_default="draft", nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("current_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_bots_name"),
    )
    op.create_index(
        "ix_bots_workspace_created",
        "bots",
        ["workspace_id", sa.literal_column("created_at DESC"), "id"],
        unique=False,
    )
    op.create_index("ix_bots_workspace_status", "bots", ["workspace_id", "status"], unique=False)
    op.create_table(
        "memberships",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "user_id"),
    )
    op.create_table(
        "bot_executions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bot_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="queued", nullable=False),
        sa.Column("trigger", sa.String(length=32), server_default="api", nullable=False),
        sa.Column(
            "input",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("logs", sa.Text(), server_default="", nullable=False),
        sa.Column("logs_truncated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column(
            "queued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index(
        "ix_bot_executions_bot",
        "bot_executions",
        ["workspace_id", "bot_id", sa.literal_column("queued_at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_bot_executions_recent",
        "bot_executions",
        ["workspace_id", sa.literal_column("queued_at DESC")],
        unique=False,
    )
    op.create_index(
        "uq_bot_executions_idempotency",
        "bot_executions",
        ["workspace_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "bot_versions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bot_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "bot_id", "number", name="uq_bot_versions_number"),
    )
    op.create_table(
        "invitations",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "invited_by"],
            ["memberships.workspace_id", "memberships.user_id"],
            ondelete="SET NULL (invited_by)",
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("token_hash"),
    )

    for statement in _security():
        op.execute(statement)


TENANT = ("memberships", "invitations", "api_keys", "bots", "bot_versions", "bot_executions")
FUNCTIONS = (
    "auth_api_key(text)",
    "auth_user_workspaces(uuid)",
    "auth_invitation(text)",
    "auth_workspace_id(text)",
)


def _security() -> list[str]:
    statements = ["GRANT USAGE ON SCHEMA public TO codex32_app, codex32_auth"]
    for table in TENANT:
        statements += rls.tenant_table(table)
    statements += rls.tenant_table("workspaces", column="id")
    # Audit rows are append-only for the runtime: no UPDATE, no DELETE.
    statements += rls.tenant_table("audit_logs", privileges="SELECT, INSERT")
    statements += [
        "GRANT SELECT, INSERT, UPDATE ON users TO codex32_app",
        "GRANT SELECT, INSERT, DELETE ON token_blocklist TO codex32_app",
        "GRANT SELECT ON alembic_version TO codex32_app",
    ]
    for table in ("workspaces", "memberships", "api_keys", "invitations"):
        statements += rls.auth_lookup(table)
    # ALTER FUNCTION ... OWNER needs CREATE on the schema for the new owner, only meanwhile.
    statements.append("GRANT CREATE ON SCHEMA public TO codex32_auth")
    statements += rls.definer_function(
        "auth_api_key(p_hash text)",
        "TABLE(id uuid, workspace_id uuid, role text, expires_at timestamptz)",
        "SELECT id, workspace_id, role, expires_at FROM api_keys WHERE key_hash = p_hash",
    )
    statements += rls.definer_function(
        "auth_user_workspaces(p_user uuid)",
        "TABLE(workspace_id uuid, slug text, role text)",
        "SELECT m.workspace_id, w.slug, m.role FROM memberships m "
        "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = p_user "
        "ORDER BY m.created_at",
    )
    statements += rls.definer_function(
        "auth_invitation(p_hash text)",
        "TABLE(id uuid, workspace_id uuid, email text, role text, expires_at timestamptz, "
        "accepted_at timestamptz)",
        "SELECT id, workspace_id, email, role, expires_at, accepted_at FROM invitations "
        "WHERE token_hash = p_hash",
    )
    statements += rls.definer_function(
        "auth_workspace_id(p_slug text)", "uuid", "SELECT id FROM workspaces WHERE slug = p_slug"
    )
    statements.append("REVOKE CREATE ON SCHEMA public FROM codex32_auth")
    return statements


def downgrade():
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_table("invitations")
    op.drop_table("bot_versions")
    op.drop_index(
        "uq_bot_executions_idempotency",
        table_name="bot_executions",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index("ix_bot_executions_recent", table_name="bot_executions")
    op.drop_index("ix_bot_executions_bot", table_name="bot_executions")
    op.drop_table("bot_executions")
    op.drop_table("memberships")
    op.drop_index("ix_bots_workspace_status", table_name="bots")
    op.drop_index("ix_bots_workspace_created", table_name="bots")
    op.drop_table("bots")
    op.drop_index("ix_audit_logs_resource", table_name="audit_logs")
    op.drop_index("ix_audit_logs_recent", table_name="audit_logs")
    op.drop_table("audit_logs")
    op.drop_table("api_keys")
    op.drop_table("workspaces")
    op.drop_index("uq_users_email", table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_token_blocklist_expires_at"), table_name="token_blocklist")
    op.drop_table("token_blocklist")
