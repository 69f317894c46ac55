"""codex32-pgvector: the pgvector vector store plugin and its hook; no other code lives here.

Registered through the ``codex32`` entry point like any third-party plugin. It keeps vectors in
the platform's own PostgreSQL (the ``vector_items`` table, under row-level security) through
the connection the core lends it (``codex32.plugins.api.database_connection``).
"""

from __future__ import annotations

from codex32.plugins.api import hookimpl
from codex32_pgvector.store import PgVectorStore, nearest_sql

__all__ = ["PgVectorStore", "nearest_sql", "register_vector_stores"]
__version__ = "0.1.0"


@hookimpl
def register_vector_stores(register):
    """Provide :class:`PgVectorStore` (id ``pgvector``)."""
    register(PgVectorStore)
