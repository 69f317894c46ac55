"""Email verification: an address binds an account only once a token sent to it comes back.

``users`` gains ``email_verified_at`` and the hashed, expiring verification token of a pending
sign-up. The unique index on the lowered email becomes partial (verified accounts only), so an
unverified claim on an address never blocks its owner's sign-up; accounts that existed before
are taken as verified. The runtime may delete a user: a pending sign-up whose address turns
out to belong to an existing account is merged into it and removed.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("verify_token_hash", sa.String(length=64)))
    op.add_column("users", sa.Column("verify_expires_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.create_unique_constraint("uq_users_verify_token_hash", "users", ["verify_token_hash"])
    op.drop_index("uq_users_email", table_name="users")
    op.create_index("uq_users_email", "users", [sa.literal_column("lower(email)")], unique=True,
                    postgresql_where=sa.text("email_verified_at IS NOT NULL"))
    op.create_index("ix_users_email_pending", "users", [sa.literal_column("lower(email)")],
                    postgresql_where=sa.text("email_verified_at IS NULL"))
    op.execute("GRANT DELETE ON users TO codex32_app")


def downgrade():
    op.execute("REVOKE DELETE ON users FROM codex32_app")
    op.execute("DELETE FROM users WHERE email_verified_at IS NULL")
    op.drop_index("ix_users_email_pending", table_name="users")
    op.drop_index("uq_users_email", table_name="users")
    op.create_index("uq_users_email", "users", [sa.literal_column("lower(email)")], unique=True)
    op.drop_constraint("uq_users_verify_token_hash", "users", type_="unique")
    for column in ("verify_expires_at", "verify_token_hash", "email_verified_at"):
        op.drop_column("users", column)
