"""The maintenance loop sweeps expired OIDC sign-ins in every workspace.

A sign-in under way (``oidc_sign_ins``) is deleted when its callback consumes it, and a new
sign-in deletes its own workspace's expired ones; a workspace where nobody starts another
sign-in kept its abandoned rows. ``expired_oidc_sign_ins`` (SECURITY DEFINER, reading only the
workspace and expiry columns) lists the workspaces that hold expired rows, and the worker's
maintenance loop deletes them under each workspace's own binding.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from codex32.db import rls
from codex32.db.roles import AUTH_ROLE

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FUNCTION = "expired_oidc_sign_ins(p_limit integer)"


def upgrade():
    statements = [
        f"CREATE POLICY auth_lookup ON oidc_sign_ins FOR SELECT TO {AUTH_ROLE} USING (true)",
        f"GRANT SELECT (workspace_id, expires_at) ON oidc_sign_ins TO {AUTH_ROLE}",
        f"GRANT CREATE ON SCHEMA public TO {AUTH_ROLE}",
        *rls.definer_function(
            FUNCTION, "TABLE(workspace_id uuid)",
            "SELECT DISTINCT workspace_id FROM oidc_sign_ins WHERE expires_at < now() "
            "LIMIT p_limit"),
        f"REVOKE CREATE ON SCHEMA public FROM {AUTH_ROLE}",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade():
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    op.execute(f"REVOKE SELECT (workspace_id, expires_at) ON oidc_sign_ins FROM {AUTH_ROLE}")
    op.execute("DROP POLICY IF EXISTS auth_lookup ON oidc_sign_ins")
