"""A workspace's collection names are unique whatever their case.

``uq_knowledge_collections_name`` becomes a unique index on ``(workspace_id, lower(name))``
(it was a constraint on the names as written, so "Docs" and "docs" could coexist). Names
that already differ only in case are settled first, so the index can be built on any data:
in each workspace the oldest collection of such a group (by ``created_at``, then id) keeps its
name, and each other one is renamed to its name followed by `` (n)``, n being the first
number from 2 whose name no collection of the workspace holds in any case (the name is cut to
fit 255 characters). Nothing else changes (collections are found by id everywhere: search,
bots, the console), and each rename is audited as a ``collection.update`` by the system, with
the reason (each written under its workspace's binding). Row-level security is forced on the
collections for their owner too, so it is lifted for those statements, inside the migration's
transaction. The downgrade restores the case-sensitive constraint; the renamed names stay.

Revision ID: 0018
Revises: 0017
"""

import json

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0018", "0017"
branch_labels = depends_on = None

NAME = "uq_knowledge_collections_name"
TABLE = "knowledge_collections"  # forced row-level security: lifted to read every workspace's
MAX_NAME = 255
REASON = "another collection's name differs only in case"

COLLIDING = sa.text(
    "SELECT workspace_id, id, name FROM knowledge_collections c WHERE EXISTS ("
    "SELECT 1 FROM knowledge_collections o WHERE o.workspace_id = c.workspace_id "
    "AND lower(o.name) = lower(c.name) AND o.id <> c.id) "
    "ORDER BY workspace_id, lower(name), created_at, id")
TAKEN = sa.text("SELECT lower(name) FROM knowledge_collections WHERE workspace_id = :w")
RENAME = sa.text("UPDATE knowledge_collections SET name = :name, updated_at = now() "
                 "WHERE workspace_id = :w AND id = :id")
BIND = sa.text("SELECT set_config('app.workspace_id', :w, true)")  # the audit row's workspace
AUDIT = sa.text(
    "INSERT INTO audit_logs (workspace_id, id, actor_type, action, resource_type, "
    "resource_id, changes) VALUES (:w, gen_random_uuid(), 'system', 'collection.update', "
    "'collection', :id, CAST(:changes AS jsonb))")


def free_name(name: str, taken: set[str]) -> str:
    """``name (n)`` for the first n from 2 whose lowercase is not in ``taken``."""
    number = 2
    while True:
        suffix = f" ({number})"
        candidate = name[:MAX_NAME - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1


def _settle_names(bind: sa.Connection) -> None:
    """Rename every collection whose name an older one of its workspace holds in another case."""
    taken: dict[str, set[str]] = {}
    kept: set[tuple[str, str]] = set()
    for workspace_id, collection_id, name in bind.execute(COLLIDING).all():
        key = (str(workspace_id), name.lower())
        if key not in kept:  # the oldest of its group keeps its name
            kept.add(key)
            continue
        if key[0] not in taken:
            taken[key[0]] = {row[0] for row in bind.execute(TAKEN, {"w": workspace_id})}
        renamed = free_name(name, taken[key[0]])
        taken[key[0]].add(renamed.lower())
        bind.execute(RENAME, {"w": workspace_id, "id": collection_id, "name": renamed})
        bind.execute(BIND, {"w": str(workspace_id)})
        bind.execute(AUDIT, {"w": workspace_id, "id": str(collection_id), "changes": json.dumps(
            {"name": {"before": name, "after": renamed}, "reason": REASON})})
    bind.execute(BIND, {"w": ""})


def upgrade():
    op.execute(f"ALTER TABLE {TABLE} NO FORCE ROW LEVEL SECURITY")
    _settle_names(op.get_bind())
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    op.drop_constraint(NAME, "knowledge_collections", type_="unique")
    op.create_index(NAME, "knowledge_collections", ["workspace_id", sa.text("lower(name)")],
                    unique=True)


def downgrade():
    op.drop_index(NAME, table_name="knowledge_collections")
    op.create_unique_constraint(NAME, "knowledge_collections", ["workspace_id", "name"])
