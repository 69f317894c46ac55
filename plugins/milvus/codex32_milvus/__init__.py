"""codex32-milvus: the Milvus vector store plugin and its hook; no other code lives here.

Registered through the ``codex32`` entry point like any third-party plugin. Without a ``uri`` it
uses ``MILVUS_URI`` or the embedded milvus-lite server (see :mod:`codex32_milvus.server`).
"""

from __future__ import annotations

from codex32.plugins.api import hookimpl
from codex32_milvus.store import MilvusVectorStore

__all__ = ["MilvusVectorStore", "register_vector_stores"]
__version__ = "0.1.0"


@hookimpl
def register_vector_stores(register):
    """Provide :class:`MilvusVectorStore` (id ``milvus``)."""
    register(MilvusVectorStore)
