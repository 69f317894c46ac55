"""A dimension's Milvus collection: created, indexed and loaded without pymilvus's fixed waits."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from codex32_milvus import schema
from pymilvus import MilvusClient, MilvusException

from codex32.plugins.api import VectorItem

# xdist (make test: --dist loadgroup) runs the Milvus tests on one worker, so the session's
# milvus-lite server (conftest.py) starts once per run.
pytestmark = pytest.mark.xdist_group("milvus")

WS = str(uuid.UUID(int=0xA))


def test_a_new_dimension_is_ready_without_a_half_second_sleep(store, monkeypatch):
    real_sleep, slept = time.sleep, []
    caller = threading.get_ident()

    def recording_sleep(seconds: float) -> None:
        if threading.get_ident() == caller:
            slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", recording_sleep)
    store.upsert(WS, "docs", [VectorItem("1", [1.0, 0.0, 0.0])])

    assert [h.id for h in store.search(WS, "docs", [1.0, 0.0, 0.0])] == ["1"]
    assert sum(slept) < 0.25, slept
    client = store._milvus()
    name = f"{store.prefix}_d3"
    assert str(client.get_load_state(name)["state"]) == "Loaded"
    assert client.describe_index(name, "vector")["state"] == "Finished"


class IndexingClient:
    """A client whose collection is created, then its index reports ``states`` in turn."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.calls: list[str] = []

    def create_collection(self, name: str, **_: Any) -> None:
        self.calls.append("create_collection")

    def create_index(self, name: str, index: Any, **kwargs: Any) -> None:
        self.calls.append(f"create_index sync={kwargs.get('sync')}")

    def describe_index(self, name: str, index_name: str, **_: Any) -> dict[str, Any]:
        return {"state": self.states.pop(0) if len(self.states) > 1 else self.states[0]}

    def load_collection(self, name: str, **_: Any) -> None:
        self.calls.append("load_collection")

    def has_collection(self, name: str, **_: Any) -> bool:
        return True

    prepare_index_params = staticmethod(MilvusClient.prepare_index_params)


def test_the_collection_is_loaded_once_its_index_is_built(monkeypatch):
    checked: list[str] = []
    monkeypatch.setattr(schema, "check", lambda client, name, *_: checked.append(name))
    client = IndexingClient("InProgress", "InProgress", "Finished")

    schema.create(client, "c_d4", 4, "COSINE", timeout=5)

    assert client.calls == ["create_collection", "create_index sync=False", "load_collection"]
    assert client.states == ["Finished"]
    assert checked == ["c_d4"]


def test_an_index_that_fails_to_build_is_an_error_not_a_loaded_collection():
    client = IndexingClient("InProgress", "Failed")

    with pytest.raises(MilvusException, match="building the index of 'c_d4' failed"):
        schema.create(client, "c_d4", 4, "COSINE", timeout=5)
    assert "load_collection" not in client.calls


def test_an_index_not_built_within_the_timeout_is_an_error():
    client = IndexingClient("InProgress")
    started = time.monotonic()

    with pytest.raises(MilvusException, match=r"not built in 0\.3 s"):
        schema.create(client, "c_d4", 4, "COSINE", timeout=0.3)
    assert time.monotonic() - started < 2
    assert "load_collection" not in client.calls
