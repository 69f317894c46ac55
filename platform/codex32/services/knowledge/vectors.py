"""The vector stores of a workspace's generations, reached only through :class:`VectorStore`'s
calls.

Each call names the workspace (the store adds its filter) and a generation's collection, and
is bounded by the plugin timeout. A generation's vectors are in the store it recorded
(:func:`store_for`), which is not the workspace's current one while a switch of store is being
re-indexed. Callers hold no transaction open while these run; they build the store in their
transaction and call it after.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db.knowledge_models import KnowledgeIndex
from codex32.errors import DomainError, from_plugin_error
from codex32.plugins.calls import invoke
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import VectorItem, VectorMatch, VectorStore
from codex32.services import provider_instances, providers
from codex32.services.knowledge.indexes import collection_of, lives_in

log = logging.getLogger(__name__)

DELETE_BATCH = 1000


def store_of(session: Session, workspace_id: uuid.UUID | str) -> VectorStore:
    """The workspace's configured vector store now (its default unless it chose another):
    where new generations are built, not necessarily where a generation's vectors are."""
    return provider_instances.build(session, workspace_id, VectorStore)


def store_for(session: Session, workspace_id: uuid.UUID | str, index: KnowledgeIndex, *,
              known: provider_instances.Snapshot | None = None) -> VectorStore:
    """The store holding a generation's vectors: the plugin it recorded, with the workspace's
    configuration of it while that places vectors where the generation's are, else with the
    configuration the generation was written with (and the workspace's secrets of the
    plugin now). 404 when that plugin is not installed any more. ``known``: the workspace's
    vector store :func:`~codex32.services.provider_instances.snapshot`, when already read."""
    known = known or provider_instances.snapshot(session, workspace_id, VectorStore.kind)
    row = known.rows.get(index.vector_store)
    moved = not lives_in(index, index.vector_store, row.config if row is not None else {})
    return provider_instances.build(session, workspace_id, VectorStore, index.vector_store,
                                    known=known, config=index.store_config if moved else None)


def stores_of(session: Session, workspace_id: uuid.UUID | str,
              generations: Sequence[KnowledgeIndex]) -> list[tuple[VectorStore, list[int]]]:
    """The stores holding these generations, each with the generations it holds. A
    generation whose store cannot be built (its plugin gone) is left out, with a warning:
    its vectors stay where they are."""
    found: dict[int, tuple[VectorStore, list[int]]] = {}
    known = (provider_instances.snapshot(session, workspace_id, VectorStore.kind)
             if generations else None)
    for index in generations:
        try:
            store = store_for(session, workspace_id, index, known=known)
        except DomainError as exc:
            log.warning("the vector store of generation %s is unreachable: %s",
                        index.generation, exc.message, extra={"workspace_id": str(workspace_id)})
            continue
        found.setdefault(id(store), (store, []))[1].append(index.generation)
    return list(found.values())


def stores_holding(session: Session, workspace_id: uuid.UUID | str,
                   generations: Sequence[KnowledgeIndex] = ()) -> list[VectorStore]:
    """Every vector store the workspace's vectors may be in: the stores ``generations``
    recorded, its current one, the platform's default and every store it has a configuration
    for (a store it never reached holds nothing of it, and building it would start nothing)."""
    known = provider_instances.snapshot(session, workspace_id, VectorStore.kind)
    installed = runtime.current().plugins.classes(VectorStore.kind)
    ids = {providers.default_id(VectorStore.kind, known.settings),
           providers.default_id(VectorStore.kind, {}), *known.rows}
    stores = {id(store): store for store, _ in stores_of(session, workspace_id, generations)}
    for plugin_id in sorted(i for i in ids if i and i in installed):
        store = provider_instances.build(session, workspace_id, VectorStore, plugin_id, known=known)
        stores.setdefault(id(store), store)
    return list(stores.values())


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
