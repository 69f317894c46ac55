"""The Milvus collection of one dimension: created with the store's schema, and checked before
use, so a collection of another shape (or metric) under the same name is refused, not mixed.

Fields: ``id`` (``"{workspace}:{collection}:{item}"``, primary), ``workspace_id`` (the partition
key), ``collection``, ``item_id``, ``vector`` (FLOAT_VECTOR, AUTOINDEX with the metric) and
``metadata`` (JSON). No globals; the store passes its client.
"""

from __future__ import annotations

import time

from pymilvus import DataType, MilvusClient, MilvusException

from codex32.plugins.api import ConfigInvalid

MAX_COLLECTION = 64
MAX_ITEM_ID_BYTES = 256


def create(client: MilvusClient, name: str, dimension: int, metric: str,
           timeout: float) -> None:
    """Create the collection (a concurrent creator's is accepted), then check it."""
    fields = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    fields.add_field("id", DataType.VARCHAR, is_primary=True,
                     max_length=40 + MAX_COLLECTION + MAX_ITEM_ID_BYTES)
    fields.add_field("workspace_id", DataType.VARCHAR, max_length=64, is_partition_key=True)
    fields.add_field("collection", DataType.VARCHAR, max_length=MAX_COLLECTION)
    fields.add_field("item_id", DataType.VARCHAR, max_length=MAX_ITEM_ID_BYTES)
    fields.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    fields.add_field("metadata", DataType.JSON)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="AUTOINDEX", metric_type=metric)
    try:
        # Strong: the worker that searches is rarely the process that just upserted.
        client.create_collection(name, schema=fields, consistency_level="Strong",
                                 timeout=timeout)
    except MilvusException:
        # Another process may have created it between our check and our create (and indexes
        # and loads it).
        if not client.has_collection(name, timeout=timeout):
            raise
    else:
        # Not create_collection(index_params=...): pymilvus then waits for the index with a
        # fixed half-second sleep before its first look, while an empty collection's index
        # is built at once; polled instead, a new dimension is ready in ~20 ms, not 0.5 s.
        client.create_index(name, index, timeout=timeout, sync=False)
        _wait_for_index(client, name, timeout)
        client.load_collection(name, timeout=timeout)
    check(client, name, dimension, metric, timeout)


def _wait_for_index(client: MilvusClient, name: str, timeout: float) -> None:
    """Poll the vector index until it is built: every 5 ms at first, at most every 200 ms,
    for at most ``timeout`` seconds; a failed build raises MilvusException."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        state = client.describe_index(name, "vector", timeout=timeout).get("state")
        if state == "Finished":
            return
        if state == "Failed":
            raise MilvusException(message=f"building the index of {name!r} failed")
        if time.monotonic() + pause > deadline:
            raise MilvusException(message=f"the index of {name!r} was not built in "
                                          f"{timeout:g} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def check(client: MilvusClient, name: str, dimension: int, metric: str,
          timeout: float) -> None:
    """ConfigInvalid unless the collection has this dimension, the workspace partition key,
    a collection field and an index for ``metric``."""
    fields = {f["name"]: f for f in client.describe_collection(name, timeout=timeout)["fields"]}
    vector = fields.get("vector", {})
    found = vector.get("params", {}).get("dim")
    if vector.get("type") != DataType.FLOAT_VECTOR or int(found or 0) != dimension:
        raise ConfigInvalid(f"collection {name!r} exists with vector dimension {found}, "
                            f"not {dimension}; use another collection_prefix",
                            {"collection_prefix": ["collides with an existing collection"]})
    if not fields.get("workspace_id", {}).get("is_partition_key") or "collection" not in fields:
        raise ConfigInvalid(f"collection {name!r} exists without a workspace_id partition "
                            "key and a collection field; use another collection_prefix",
                            {"collection_prefix": ["collides with an existing collection"]})
    indexes = client.list_indexes(name, field_name="vector", timeout=timeout)
    indexed = client.describe_index(name, indexes[0], timeout=timeout).get(
        "metric_type") if indexes else None
    # The metric is fixed when the index is built; searching with another is meaningless.
    if indexed and indexed != metric:
        raise ConfigInvalid(f"collection {name!r} is indexed for {indexed}, not {metric}; "
                            "keep the metric or use another collection_prefix",
                            {"metric": [f"the index uses {indexed}"]})
