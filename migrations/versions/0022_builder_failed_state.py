"""A builder conversation whose last build failed is ``failed`` (it was left ``generated``, or
``ready`` when the job itself failed), with the reason in ``error``.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision, down_revision = "0022", "0021"
branch_labels = depends_on = None

NAME = "ck_builder_conversations_state"
TABLE = "builder_conversations"


def _every_workspace(statement: str) -> None:
    """Run ``statement`` over every workspace's rows (row-level security binds none here)."""
    op.execute(f"ALTER TABLE {TABLE} NO FORCE ROW LEVEL SECURITY")
    op.execute(statement)
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")


def _states(*states: str) -> None:
    op.drop_constraint(NAME, TABLE, type_="check")
    op.create_check_constraint(NAME, TABLE, "state IN ({})".format(
        ", ".join(f"'{state}'" for state in states)))


def upgrade():
    _states("gathering", "ready", "generated", "failed", "accepted")
    # Conversations whose stored build did not pass say so now.
    _every_workspace(
        f"UPDATE {TABLE} SET state = 'failed', error = COALESCE(error, report->>'stopped', "
        "'the generated files failed validation') "
        "WHERE state = 'generated' AND NOT COALESCE((report->>'passed')::boolean, false)")


def downgrade():
    _every_workspace(f"UPDATE {TABLE} SET state = CASE WHEN report IS NULL THEN 'ready' "
                     "ELSE 'generated' END WHERE state = 'failed'")
    _states("gathering", "ready", "generated", "accepted")  # after: 'failed' rows are gone
