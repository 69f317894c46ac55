"""``auth_membership`` also answers when the membership began, so a token names its membership.

A token carries the ``joined`` claim: the time (microseconds since the epoch) the membership it
was issued for began. A member removed and later invited back has a new membership, so the
tokens issued before the removal (a stolen one with them) no longer match it and stay dead.
The function keeps its arguments and filters; it returns ``joined_at`` beside ``role`` and
``revoked``.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

from codex32.db import rls

revision, down_revision = "0020", "0019"
branch_labels = depends_on = None

SIGNATURE = "auth_membership(p_user uuid, p_workspace uuid, p_jti text, p_family text)"
REVOKED = ("EXISTS (SELECT 1 FROM token_blocklist b WHERE b.jti IN (p_jti, p_family))")
WHERE = "FROM memberships m WHERE m.user_id = p_user AND m.workspace_id = p_workspace"


def _replace(returns: str, columns: str) -> None:
    statements = ["DROP FUNCTION IF EXISTS auth_membership(uuid, uuid, text, text)",
                  "GRANT CREATE ON SCHEMA public TO codex32_auth"]
    statements += rls.definer_function(SIGNATURE, returns, f"SELECT {columns} {WHERE}")
    statements.append("REVOKE CREATE ON SCHEMA public FROM codex32_auth")
    for statement in statements:
        op.execute(statement)


def upgrade():
    _replace("TABLE(role text, revoked boolean, joined_at timestamptz)",
             f"m.role, {REVOKED}, m.created_at")


def downgrade():
    _replace("TABLE(role text, revoked boolean)", f"m.role, {REVOKED}")
