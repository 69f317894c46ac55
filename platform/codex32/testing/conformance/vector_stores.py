"""The suite of vector stores: round trips, filters and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

from codex32.plugins.interfaces import (
    VectorItem,
)
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import (
    WORKSPACE_A,
    WORKSPACE_B,
)


def _unit(*values: float) -> list[float]:
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


class VectorStoreConformance(PluginConformance):
    """A :class:`VectorStore`: round trips by id, metadata filters, and workspaces that never
    see, overwrite or delete each other's vectors."""

    kind = "vector_store"
    methods = ("upsert", "search", "delete")

    def new_collection(self) -> str:
        """A collection name no earlier test used."""
        return f"conformance_{uuid.uuid4().hex[:12]}"

    def exercise(self, plugin: Any) -> object:
        collection = self.new_collection()
        plugin.upsert(WORKSPACE_A, collection, [VectorItem("probe", _unit(1, 0, 0, 0))])
        return plugin.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=1)

    def _compass(self, store: Any, collection: str) -> None:
        store.upsert(WORKSPACE_A, collection, [
            VectorItem("north", _unit(1, 0, 0, 0), {"name": "north", "group": "a"}),
            VectorItem("east", _unit(0, 1, 0, 0), {"name": "east", "group": "b"}),
            VectorItem("north-east", _unit(1, 1, 0, 0), {"name": "north-east", "group": "a"}),
        ])

    def test_upsert_search_delete_round_trip(self):
        """Search ranks best first with its metadata; upserting an id replaces it; deleting
        removes it (unknown ids are ignored); a collection never written is empty."""
        store, collection = self.build(), self.new_collection()
        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0)) == []
        self._compass(store, collection)

        hits = store.search(WORKSPACE_A, collection, _unit(1, 0.1, 0, 0), top_k=3)

        assert [hit.id for hit in hits] == ["north", "north-east", "east"]
        assert hits[0].score >= hits[1].score >= hits[2].score
        assert hits[0].metadata == {"name": "north", "group": "a"}
        store.upsert(WORKSPACE_A, collection, [
            VectorItem("north", _unit(1, 0, 0, 0), {"name": "replaced", "group": "a"})])
        hits = store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=10)
        assert [hit.id for hit in hits].count("north") == 1
        assert hits[0].metadata == {"name": "replaced", "group": "a"}
        store.delete(WORKSPACE_A, collection, ["north", "never-stored"])
        hits = store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=10)
        assert [hit.id for hit in hits] == ["north-east", "east"]

    def test_search_filters_match_metadata(self):
        """``filters`` keep the hits whose metadata has every given key and value."""
        store, collection = self.build(), self.new_collection()
        self._compass(store, collection)

        hits = store.search(WORKSPACE_A, collection, _unit(0, 1, 0, 0), top_k=10,
                            filters={"group": "a"})

        assert sorted(hit.id for hit in hits) == ["north", "north-east"]

    def test_another_workspace_never_sees_overwrites_or_deletes_vectors(self):
        """With the same ids and collection in workspaces A and B, B's search returns only
        B's items, B's upsert leaves A's item as it was, and B's delete leaves A's items."""
        store, collection = self.build(), self.new_collection()
        for workspace, owner in ((WORKSPACE_A, "a"), (WORKSPACE_B, "b")):
            store.upsert(workspace, collection, [
                VectorItem("same-id", _unit(1, 0, 0, 0), {"owner": owner}),
                VectorItem(f"only-{owner}", _unit(0, 1, 0, 0), {"owner": owner}),
            ])

        def seen(workspace: str) -> dict[str, str]:
            hits = store.search(workspace, collection, _unit(1, 0, 0, 0), top_k=10)
            return {hit.id: hit.metadata.get("owner") for hit in hits}

        assert seen(WORKSPACE_B) == {"same-id": "b", "only-b": "b"}, (
            "workspace B's search must return B's items only (id: owner shown)")
        assert seen(WORKSPACE_A) == {"same-id": "a", "only-a": "a"}, (
            "workspace B's upsert of the same id must leave A's item as it was")
        store.delete(WORKSPACE_B, collection, ["same-id", "only-a"])
        assert seen(WORKSPACE_A) == {"same-id": "a", "only-a": "a"}, (
            "workspace B's delete must leave A's items")
        assert seen(WORKSPACE_B) == {"only-b": "b"}
