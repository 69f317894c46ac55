"""MilvusVectorStore on a real milvus-lite server: round trips, isolation, filters, restarts."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
from codex32_milvus import MilvusVectorStore
from pymilvus import DataType, MilvusClient

from codex32.plugins.api import ConfigInvalid, VectorItem

# xdist (make test: --dist loadgroup) runs the Milvus tests on one worker, so the session's
# milvus-lite server (conftest.py) starts once per run.
pytestmark = pytest.mark.xdist_group("milvus")

WS_A = str(uuid.UUID(int=0xA))
WS_B = str(uuid.UUID(int=0xB))


def unit(*values: float) -> list[float]:
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def test_upsert_search_delete_round_trip(store):
    store.upsert(WS_A, "docs", [
        VectorItem("north", unit(1, 0, 0, 0), {"title": "North"}),
        VectorItem("east", unit(0, 1, 0, 0), {"title": "East"}),
        VectorItem("north-east", unit(1, 1, 0, 0), {"title": "NE"}),
    ])

    hits = store.search(WS_A, "docs", unit(1, 0.1, 0, 0), top_k=3)

    assert [h.id for h in hits] == ["north", "north-east", "east"]
    assert hits[0].score > hits[1].score > hits[2].score
    assert hits[0].metadata == {"title": "North"}

    store.upsert(WS_A, "docs", [VectorItem("north", unit(1, 0, 0, 0), {"title": "Up"})])
    assert store.search(WS_A, "docs", unit(1, 0, 0, 0), top_k=1)[0].metadata == {"title": "Up"}

    store.delete(WS_A, "docs", ["north", "no-such-id"])
    assert [h.id for h in store.search(WS_A, "docs", unit(1, 0, 0, 0), top_k=5)] == [
        "north-east", "east"]


def test_search_of_a_collection_never_written_returns_nothing(store):
    assert store.search(WS_A, "empty", unit(1, 0, 0, 0)) == []
    store.delete(WS_A, "empty", ["x"])  # nothing to delete is not an error


def test_another_workspace_never_sees_or_touches_the_vectors(store):
    for workspace, tag in ((WS_A, "a"), (WS_B, "b")):
        store.upsert(workspace, "docs", [
            VectorItem("same-id", unit(1, 0, 0), {"owner": tag}),
            VectorItem(f"only-{tag}", unit(0, 1, 0), {"owner": tag}),
        ])

    hits = store.search(WS_B, "docs", unit(1, 0, 0), top_k=10)

    assert {h.id for h in hits} == {"same-id", "only-b"}
    assert {h.metadata["owner"] for h in hits} == {"b"}

    store.delete(WS_B, "docs", ["same-id", "only-a"])
    assert {h.id for h in store.search(WS_A, "docs", unit(1, 0, 0))} == {"same-id", "only-a"}
    assert {h.id for h in store.search(WS_B, "docs", unit(1, 0, 0))} == {"only-b"}


def test_filters_match_metadata_and_combine_with_and(store):
    store.upsert(WS_A, "docs", [
        VectorItem("1", unit(1, 0), {"kind": "bot", "version": 1, "active": True}),
        VectorItem("2", unit(1, 0.1), {"kind": "bot", "version": 2, "active": False}),
        VectorItem("3", unit(1, 0.2), {"kind": "doc", "version": 1, "active": True}),
    ])

    assert [h.id for h in store.search(WS_A, "docs", unit(1, 0), filters={"kind": "bot"})] == [
        "1", "2"]
    assert [h.id for h in store.search(WS_A, "docs", unit(1, 0),
                                       filters={"version": 1, "active": True})] == ["1", "3"]
    assert store.search(WS_A, "docs", unit(1, 0), filters={"kind": "none"}) == []


@pytest.mark.parametrize("workspace_id", [
    'x" or workspace_id != "',
    "00000000-0000-0000-0000-00000000000a\" or true or \"",
    "",
    "*",
])
def test_a_workspace_id_that_is_not_a_uuid_is_refused(store, workspace_id):
    with pytest.raises(ValueError, match="UUID"):
        store.search(workspace_id, "docs", unit(1, 0))
    with pytest.raises(ValueError, match="UUID"):
        store.upsert(workspace_id, "docs", [VectorItem("1", unit(1, 0))])
    with pytest.raises(ValueError, match="UUID"):
        store.delete(workspace_id, "docs", ["1"])


@pytest.mark.parametrize("value", [
    'x" or workspace_id != "',
    "x\\\" or true or \\\"",
    'back\\slash"',
    "it's",
    "new\nline",
])
def test_a_filter_value_is_a_literal_never_an_expression(store, value):
    store.upsert(WS_A, "docs", [VectorItem("a", unit(1, 0), {"tag": "other"})])
    store.upsert(WS_B, "docs", [VectorItem("literal", unit(1, 0), {"tag": value}),
                                VectorItem("b", unit(1, 0), {"tag": "other"})])

    hits = store.search(WS_B, "docs", unit(1, 0), filters={"tag": value})

    assert [(h.id, h.metadata["tag"]) for h in hits] == [("literal", value)]


@pytest.mark.parametrize("filters", [
    {'tag"] == "x" or metadata["tag': "x"},
    {"tag": "bell\x07"},
    {"tag": ["a", "b"]},
    {"tag": None},
    {"tag": float("nan")},
    {"tag": 2**64},
])
def test_a_filter_that_could_break_the_expression_is_refused(store, filters):
    with pytest.raises(ValueError):
        store.search(WS_A, "docs", unit(1, 0), filters=filters)


@pytest.mark.parametrize("collection", ["bad-name", "x" * 65, "a b", 'x"'])
def test_collection_names_are_checked(store, collection):
    with pytest.raises(ValueError, match="collection"):
        store.search(WS_A, collection, unit(1, 0))


def test_one_milvus_collection_per_dimension_holds_every_workspace_and_collection(
        milvus_server, store):
    for workspace in (WS_A, WS_B):
        for name in ("docs", "bots", "faq"):
            store.upsert(workspace, name, [VectorItem("1", unit(1, 0))])
    store.upsert(WS_A, "docs", [VectorItem("1", unit(1, 0, 0))])

    client = MilvusClient(uri=milvus_server.uri)
    names = sorted(n for n in client.list_collections() if n.startswith(store.prefix))
    fields = {f["name"]: f for f in client.describe_collection(names[0])["fields"]}
    client.close()

    assert names == [f"{store.prefix}_d2", f"{store.prefix}_d3"]
    assert fields["workspace_id"].get("is_partition_key")
    assert store.health_check().detail.startswith("2 collections")


@pytest.mark.parametrize("filters", [
    {"tag": 'x" or workspace_id != "'},
    {"tag": 'x") or (collection != "'},
    {"tag": "x' or true or '"},
    {"tag": 'x" || workspace_id like "%'},
])
def test_crafted_filters_stay_inside_the_workspace_and_collection(store, filters):
    store.upsert(WS_A, "docs", [VectorItem("a", unit(1, 0), {"tag": "x"})])
    store.upsert(WS_B, "other", [VectorItem("b-other", unit(1, 0), {"tag": "x"})])
    store.upsert(WS_B, "docs", [VectorItem("b", unit(1, 0), {"tag": "y"})])

    assert store.search(WS_B, "docs", unit(1, 0), filters=filters) == []
    assert [h.id for h in store.search(WS_B, "docs", unit(1, 0))] == ["b"]


def test_mixed_dimensions_in_one_upsert_are_a_clear_error(store):
    with pytest.raises(ValueError, match="dimension mismatch"):
        store.upsert(WS_A, "docs", [VectorItem("1", unit(1, 0)), VectorItem("2", unit(1, 0, 0))])


def test_each_dimension_gets_its_own_collection(store):
    store.upsert(WS_A, "docs", [VectorItem("small", unit(1, 0))])
    store.upsert(WS_A, "docs", [VectorItem("large", unit(1, 0, 0, 0))])

    assert [h.id for h in store.search(WS_A, "docs", unit(1, 0))] == ["small"]
    assert [h.id for h in store.search(WS_A, "docs", unit(1, 0, 0, 0))] == ["large"]
    store.delete(WS_A, "docs", ["small", "large"])
    assert store.search(WS_A, "docs", unit(1, 0)) == []
    assert store.search(WS_A, "docs", unit(1, 0, 0, 0)) == []


def test_a_foreign_collection_with_another_dimension_is_config_invalid(milvus_server, make_store):
    store = make_store()
    client = MilvusClient(uri=milvus_server.uri)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection(f"{store.prefix}_d8", schema=schema)
    client.close()

    with pytest.raises(ConfigInvalid, match="dimension 4, not 8"):
        store.upsert(WS_A, "docs", [VectorItem("1", [1.0] * 8)])


def test_a_metric_other_than_the_collections_is_config_invalid(make_store):
    make_store().upsert(WS_A, "docs", [VectorItem("1", unit(1, 0))])

    with pytest.raises(ConfigInvalid, match="indexed for COSINE, not L2"):
        make_store(metric="L2").search(WS_A, "docs", unit(1, 0))


def test_l2_scores_are_higher_for_nearer_vectors(make_store):
    store = make_store(metric="L2")
    store.upsert(WS_A, "docs", [VectorItem("near", [1.0, 0.0]), VectorItem("far", [5.0, 5.0])])

    hits = store.search(WS_A, "docs", [1.0, 0.1])

    assert [h.id for h in hits] == ["near", "far"]
    assert hits[0].score > hits[1].score


def test_search_works_after_the_server_restarts(milvus_server, make_store):
    store = make_store()
    store.upsert(WS_A, "docs", [VectorItem("kept", unit(1, 0), {"n": 1})])

    milvus_server.restart()

    # A new instance (a fresh process) and the old one (a released collection) both work.
    fresh = make_store(collection_prefix=store.prefix)
    assert [h.id for h in fresh.search(WS_A, "docs", unit(1, 0))] == ["kept"]
    milvus_server.restart()
    assert [h.id for h in store.search(WS_A, "docs", unit(1, 0))] == ["kept"]


def test_health_check_reports_latency_and_never_the_token(milvus_server):
    store = MilvusVectorStore({"uri": milvus_server.uri}, {"token": "s3cret-token"})
    health = store.health_check()
    store.close()

    assert health.ok
    assert health.latency_ms is not None
    assert "s3cret" not in health.detail
    assert "s3cret" not in repr(store)


def test_health_check_fails_cleanly_when_the_server_is_down(closed_port):
    store = MilvusVectorStore({"uri": f"http://127.0.0.1:{closed_port}", "timeout_seconds": 1},
                              {"token": "s3cret-token"})
    health = store.health_check()

    assert not health.ok
    assert "s3cret" not in health.detail


def own_workspace_worker(uri: str, prefix: str, workspace: str, barrier, results) -> None:
    """One platform process: write and read its own workspace while the others do the same."""
    try:
        store = MilvusVectorStore({"uri": uri, "collection_prefix": prefix})
        barrier.wait(timeout=30)
        for round_ in range(5):
            store.upsert(workspace, "shared", [
                VectorItem(f"item-{i}", unit(1, i, round_), {"workspace": workspace})
                for i in range(10)])
            hits = store.search(workspace, "shared", unit(1, 0, 0), top_k=50)
            assert hits, "no hits"
            assert {h.metadata["workspace"] for h in hits} == {workspace}
            assert len(hits) == 10
        store.close()
        results.put((workspace, "ok"))
    except BaseException as error:
        results.put((workspace, repr(error)))


def test_several_processes_share_the_server_and_see_only_their_workspace(milvus_server):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    prefix = f"mp{uuid.uuid4().hex[:8]}"
    workspaces = [str(uuid.uuid4()) for _ in range(3)]
    processes = [context.Process(target=own_workspace_worker,
                                 args=(milvus_server.uri, prefix, ws, barrier, results))
                 for ws in workspaces]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=10)

    assert outcomes == dict.fromkeys(workspaces, "ok")
