"""Membership lookup for authentication, so the tenant is bound in the same statement.

``auth_membership`` answers, before a workspace is bound, whether a user is a member of one
workspace (and with which role) and whether the token or its sign-in family is revoked. It
filters by workspace explicitly, returns only the role and a flag, and lets the request bind
the workspace in the very statement that authenticates it (one round trip less per request).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from codex32.db import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SIGNATURE = "auth_membership(p_user uuid, p_workspace uuid, p_jti text, p_family text)"


def upgrade():
    statements = ["GRANT SELECT ON token_blocklist TO codex32_auth",
                  "GRANT CREATE ON SCHEMA public TO codex32_auth"]
    statements += rls.definer_function(
        SIGNATURE,
        "TABLE(role text, revoked boolean)",
        "SELECT m.role, EXISTS (SELECT 1 FROM token_blocklist b "
        "WHERE b.jti IN (p_jti, p_family)) FROM memberships m "
        "WHERE m.user_id = p_user AND m.workspace_id = p_workspace",
    )
    statements.append("REVOKE CREATE ON SCHEMA public FROM codex32_auth")
    for statement in statements:
        op.execute(statement)


def downgrade():
    op.execute("DROP FUNCTION IF EXISTS auth_membership(uuid, uuid, text, text)")
    op.execute("REVOKE SELECT ON token_blocklist FROM codex32_auth")
