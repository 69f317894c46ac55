"""The suite of vector stores: round trips, filters and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from codex32.plugins.interfaces import (
    VectorItem,
)
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import (
    WORKSPACE_A,
    WORKSPACE_B,
    _kind,
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

    # The checks below came with issue 13 (knowledge): one contiguous block, kept together.

    def test_top_k_keeps_the_nearest_best_first(self):
        """``top_k`` bounds the hits to the nearest ones, best first."""
        store, collection = self.build(), self.new_collection()
        self._compass(store, collection)

        hits = store.search(WORKSPACE_A, collection, _unit(1, 0.2, 0, 0), top_k=2)

        assert [hit.id for hit in hits] == ["north", "north-east"]

    def test_collections_of_one_workspace_are_apart(self):
        """The same id in two collections is two items: search, upsert and delete in one
        collection never see or touch the other's."""
        store, first, second = self.build(), self.new_collection(), self.new_collection()
        store.upsert(WORKSPACE_A, first, [VectorItem("same", _unit(1, 0, 0, 0), {"in": "1"})])
        store.upsert(WORKSPACE_A, second, [VectorItem("same", _unit(0, 1, 0, 0), {"in": "2"})])
        store.delete(WORKSPACE_A, second, ["same"])

        hits = store.search(WORKSPACE_A, first, _unit(0, 1, 0, 0), top_k=10)

        assert [(hit.id, hit.metadata) for hit in hits] == [("same", {"in": "1"})]
        assert store.search(WORKSPACE_A, second, _unit(0, 1, 0, 0), top_k=10) == []

    def test_each_dimension_is_searched_apart(self):
        """Vectors of another dimension in the same collection (a change of embedder) are
        neither returned nor an error; ``delete`` removes an id from every dimension."""
        store, collection = self.build(), self.new_collection()
        store.upsert(WORKSPACE_A, collection, [VectorItem("small", _unit(1, 0, 0, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("large", _unit(1, 0, 0, 0, 0, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("both", _unit(0, 1, 0, 0)),
                                               VectorItem("small-2", _unit(0, 0, 1, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("both", _unit(0, 1, 0, 0, 0, 0))])

        def ids(dimension: int) -> set[str]:
            query = _unit(1, *[0.1] * (dimension - 1))
            return {hit.id for hit in store.search(WORKSPACE_A, collection, query, top_k=10)}

        assert ids(4) == {"small", "both", "small-2"}
        assert ids(6) == {"large", "both"}
        store.delete(WORKSPACE_A, collection, ["both"])
        assert ids(4) == {"small", "small-2"} and ids(6) == {"large"}

    def test_mixed_dimensions_in_one_upsert_are_a_value_error(self):
        """One upsert holds one dimension: a mix raises ValueError and writes nothing."""
        store, collection = self.build(), self.new_collection()
        with pytest.raises(ValueError, match="dimension"):
            store.upsert(WORKSPACE_A, collection, [VectorItem("1", _unit(1, 0, 0, 0)),
                                                   VectorItem("2", _unit(1, 0, 0))])
        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=10) == []

    @pytest.mark.parametrize("filters", [
        {"owner": 'a" or workspace_id != "'},
        {"owner": "a' OR 1=1 --"},
        {"owner": 'b" || true || "'},
        {'owner"] == "a" or metadata["owner': "a"},
        {"owner) or (true": "a"},
    ])
    def test_crafted_filters_never_reach_another_workspace(self, filters):
        """A filter is data: one crafted to escape the workspace condition (``or``, quotes,
        expressions) either raises ValueError or matches in the caller's workspace only."""
        store, collection = self.build(), self.new_collection()
        store.upsert(WORKSPACE_A, collection, [VectorItem("a", _unit(1, 0, 0, 0),
                                                          {"owner": "a"})])
        store.upsert(WORKSPACE_B, collection, [VectorItem("b", _unit(1, 0, 0, 0),
                                                          {"owner": "b"})])
        try:
            hits = store.search(WORKSPACE_B, collection, _unit(1, 0, 0, 0), top_k=10,
                                filters=filters)
        except ValueError:
            return
        assert all(hit.metadata.get("owner") == "b" for hit in hits), (
            f"workspace B's search with {filters} returned A's items")

    def test_delete_collection_removes_only_that_collection(self):
        """``delete_collection`` empties the workspace's collection (every dimension) and
        leaves its other collections and other workspaces' same-named collection."""
        store, collection, other = self.build(), self.new_collection(), self.new_collection()
        _skip_unless_supported(store, "delete_collection")
        for workspace in (WORKSPACE_A, WORKSPACE_B):
            store.upsert(workspace, collection, [VectorItem("x", _unit(1, 0, 0, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("y", _unit(1, 0, 0, 0, 0, 0))])
        store.upsert(WORKSPACE_A, other, [VectorItem("x", _unit(1, 0, 0, 0))])

        assert store.delete_collection(WORKSPACE_A, collection) is True

        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0)) == []
        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0, 0, 0)) == []
        assert [hit.id for hit in store.search(WORKSPACE_A, other, _unit(1, 0, 0, 0))] == ["x"]
        assert [hit.id for hit in store.search(WORKSPACE_B, collection,
                                               _unit(1, 0, 0, 0))] == ["x"]

    def test_delete_workspace_removes_its_vectors_only(self):
        """``delete_workspace`` removes every vector of the workspace (every collection and
        dimension); another workspace's vectors, same ids, stay."""
        store, collection, other = self.build(), self.new_collection(), self.new_collection()
        _skip_unless_supported(store, "delete_workspace")
        for workspace in (WORKSPACE_A, WORKSPACE_B):
            store.upsert(workspace, collection, [VectorItem("x", _unit(1, 0, 0, 0))])
            store.upsert(workspace, other, [VectorItem("x", _unit(1, 0, 0, 0, 0, 0))])

        assert store.delete_workspace(WORKSPACE_A) is True

        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0)) == []
        assert store.search(WORKSPACE_A, other, _unit(1, 0, 0, 0, 0, 0)) == []
        assert [hit.id for hit in store.search(WORKSPACE_B, collection,
                                               _unit(1, 0, 0, 0))] == ["x"]
        assert [hit.id for hit in store.search(WORKSPACE_B, other,
                                               _unit(1, 0, 0, 0, 0, 0))] == ["x"]


def _skip_unless_supported(store: Any, method: str) -> None:
    """Skip when ``method`` is the base class's default (returns False: not supported)."""
    if getattr(type(store), method) is getattr(_kind("vector_store").base, method):
        pytest.skip(f"{type(store).__name__} does not implement {method}() (the default "
                    "returns False; the caller deletes by id)")
