"""The workspace's vector store, reached only through :class:`VectorStore`'s three calls.

Each call names the workspace (the store adds its filter) and a generation's collection, and
is bounded by the plugin timeout. Callers hold no transaction open while these run; they build
the store in their transaction (:func:`store_of`) and call it after.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.errors import NotFound, from_plugin_error
from codex32.plugins.calls import invoke
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import VectorItem, VectorMatch, VectorStore
from codex32.services import providers
from codex32.services.knowledge.indexes import collection_of

DELETE_BATCH = 1000


def store_of(session: Session, workspace_id: uuid.UUID | str) -> VectorStore:
    """The workspace's configured vector store (its default unless it chose another)."""
    return providers.build(session, workspace_id, VectorStore)


def available_store(session: Session, workspace_id: uuid.UUID | str) -> VectorStore | None:
    """The workspace's vector store, or None when no vector store plugin is installed (the
    knowledge base then works on full-text search alone)."""
    try:
        return store_of(session, workspace_id)
    except NotFound:
        return None


def stores_holding(session: Session, workspace_id: uuid.UUID | str) -> list[VectorStore]:
    """Every vector store the workspace's vectors may be in: its current one, the platform's
    default and every store it has a configuration for (a store it never reached holds
    nothing of it, and building it would start nothing)."""
    known = providers.snapshot(session, workspace_id, VectorStore.kind)
    installed = runtime.current().plugins.classes(VectorStore.kind)
    ids = {providers.default_id(VectorStore.kind, known.settings),
           providers.default_id(VectorStore.kind, {}), *known.rows}
    return [providers.build(session, workspace_id, VectorStore, plugin_id, known=known)
            for plugin_id in sorted(i for i in ids if i and i in installed)]


def _timeout() -> float:
    return runtime.current().settings.plugin_timeout_seconds


def upsert(store: VectorStore, workspace_id: str, generation: int,
           items: list[VectorItem]) -> None:
    """Write vectors into a generation's collection."""
    try:
        invoke(store, "upsert", store.upsert, workspace_id, collection_of(generation), items,
               timeout=_timeout())
    except PluginError as exc:
        raise from_plugin_error(exc, store.id) from exc


def search(store: VectorStore, workspace_id: str, generation: int, vector: list[float],
           top_k: int, filters: dict[str, Any]) -> list[VectorMatch]:
    """The nearest vectors of a generation, best first."""
    try:
        return invoke(store, "search", store.search, workspace_id, collection_of(generation),
                      vector, top_k, filters, timeout=_timeout())
    except PluginError as exc:
        raise from_plugin_error(exc, store.id) from exc


def delete(store: VectorStore, workspace_id: str, generations: list[int],
           ids: list[str]) -> None:
    """Delete vectors by chunk id from every given generation (unknown ids are ignored)."""
    for generation in generations:
        for start in range(0, len(ids), DELETE_BATCH):
            try:
                invoke(store, "delete", store.delete, workspace_id, collection_of(generation),
                       ids[start:start + DELETE_BATCH], timeout=_timeout())
            except PluginError as exc:
                raise from_plugin_error(exc, store.id) from exc


def erase(store: VectorStore, workspace_id: str, generations: list[int]) -> bool:
    """Delete every vector of these generations of the workspace from ``store`` (each is one
    collection); False when the store cannot delete a collection."""
    try:
        return all([invoke(store, "delete", store.delete_collection, workspace_id,
                           collection_of(generation), timeout=_timeout())
                    for generation in generations])
    except PluginError as exc:
        raise from_plugin_error(exc, store.id) from exc
