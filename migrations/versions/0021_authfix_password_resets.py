"""Password resets, sign-ins a reset ends, and API keys that answer to their minter.

``password_resets`` holds at most one reset under way per account: the SHA-256 of the mailed
token and when it expires (a new request replaces it; the reset deletes it). It is not tenant
data (an account is global), like ``users``.

``users.session_generation`` counts the resets of an account's password: a token carries the
generation it was issued in (its ``gen`` claim, absent for 0), and ``auth_membership`` answers
the account's current one beside the membership, so a reset ends every sign-in issued before
it in the statement that authenticates each request. ``codex32_auth`` may read that column and
the id only.

``auth_api_key`` answers, beside the key, who minted it (``created_by``) and that member's
current role in the key's workspace (``minter_role``, NULL when they are a member no more):
a key acts with the permissions both roles grant (docs/security.md, "API keys").

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from codex32.db import rls
from codex32.db.roles import APP_ROLE, AUTH_ROLE

revision, down_revision = "0021", "0020"
branch_labels = depends_on = None

MEMBERSHIP = "auth_membership(p_user uuid, p_workspace uuid, p_jti text, p_family text)"
REVOKED = "EXISTS (SELECT 1 FROM token_blocklist b WHERE b.jti IN (p_jti, p_family))"
MEMBER_OF = "FROM memberships m WHERE m.user_id = p_user AND m.workspace_id = p_workspace"
GENERATION = "(SELECT u.session_generation FROM users u WHERE u.id = p_user)"
API_KEY = "auth_api_key(p_hash text)"
KEY_COLUMNS = "k.id, k.workspace_id, k.role, k.expires_at"
MINTER_ROLE = ("(SELECT m.role FROM memberships m WHERE m.workspace_id = k.workspace_id "
               "AND m.user_id = k.created_by)")


def _replace(signature: str, returns: str, body: str) -> None:
    name = signature.split("(", 1)[0]
    arguments = ", ".join(part.split()[-1] for part in
                          signature.split("(", 1)[1].rstrip(")").split(","))
    statements = [f"DROP FUNCTION IF EXISTS {name}({arguments})",
                  f"GRANT CREATE ON SCHEMA public TO {AUTH_ROLE}"]
    statements += rls.definer_function(signature, returns, body)
    statements.append(f"REVOKE CREATE ON SCHEMA public FROM {AUTH_ROLE}")
    for statement in statements:
        op.execute(statement)


def upgrade():
    op.add_column("users", sa.Column("session_generation", sa.Integer(), nullable=False,
                                     server_default=sa.text("0")))
    op.create_table(
        "password_resets",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON password_resets TO {APP_ROLE}")
    op.execute(f"GRANT SELECT (id, session_generation) ON users TO {AUTH_ROLE}")
    _replace(MEMBERSHIP, "TABLE(role text, revoked boolean, joined_at timestamptz, "
             "generation integer)", f"SELECT m.role, {REVOKED}, m.created_at, {GENERATION} "
             f"{MEMBER_OF}")
    _replace(API_KEY, "TABLE(id uuid, workspace_id uuid, role text, expires_at timestamptz, "
             "created_by uuid, minter_role text)",
             f"SELECT {KEY_COLUMNS}, k.created_by, {MINTER_ROLE} FROM api_keys k "
             "WHERE k.key_hash = p_hash")


def downgrade():
    _replace(API_KEY, "TABLE(id uuid, workspace_id uuid, role text, expires_at timestamptz)",
             f"SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.key_hash = p_hash")
    _replace(MEMBERSHIP, "TABLE(role text, revoked boolean, joined_at timestamptz)",
             f"SELECT m.role, {REVOKED}, m.created_at {MEMBER_OF}")
    op.execute(f"REVOKE SELECT (id, session_generation) ON users FROM {AUTH_ROLE}")
    op.drop_table("password_resets")
    op.drop_column("users", "session_generation")
