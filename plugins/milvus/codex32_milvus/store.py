"""MilvusVectorStore: vectors in Milvus, one Milvus collection per embedding dimension.

Every workspace and every one of its collections shares the dimension's Milvus collection
(``{prefix}_d{dimension}``): ``workspace_id`` is its partition key, the caller's collection a
field, and the primary key is ``"{workspace}:{collection}:{id}"``. So a deployment holds a few
Milvus collections, not one per dataset (the limit Milvus users meet first), and a workspace's
rows are bucketed together. Every search, upsert and delete builds its scope,
``workspace_id == "<ws>" and collection == "<name>"``, here from its arguments, never from
caller text, and ANDs the caller's metadata filters to it as escaped literals in parentheses.
No Flask, no database, no globals.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from codex32.plugins.api import (
    ConfigInvalid,
    HealthResult,
    ProviderError,
    ProviderTimeout,
    UnsafeURL,
    VectorItem,
    VectorMatch,
    VectorStore,
    resolve_url,
)

METRICS = ("COSINE", "IP", "L2")
MAX_DIMENSION = 32768  # Milvus's limit for FLOAT_VECTOR
MAX_ITEM_ID_BYTES = 256
MAX_COLLECTION = 64
MAX_TOP_K = 16384
_INT64 = 2**63

_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
# Milvus's expression lexer knows only these escapes; other control characters are refused.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NOT_LOADED = 101  # Milvus's code for "collection not loaded"


class MilvusVectorStore(VectorStore):
    """Milvus (server, Zilliz Cloud, or the embedded milvus-lite server) as a vector store."""

    id = "milvus"
    title = "Milvus"
    description = ("Milvus vector database, one collection per embedding dimension with the "
                   "workspace as partition key. Without a URI it uses an embedded milvus-lite "
                   "server that one process owns and every platform process connects to.")
    config_schema = {
        "type": "object",
        "properties": {
            "uri": {"type": "string", "format": "uri", "pattern": r"^https?://[^\s]+$",
                    "maxLength": 2048,
                    "description": "Milvus server URI; default: MILVUS_URI or the embedded "
                                   "milvus-lite server"},
            "collection_prefix": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,31}$",
                                  "default": "codex32"},
            "ef_search": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 64,
                          "description": "HNSW candidates per search (AUTOINDEX is HNSW)"},
            "metric": {"enum": list(METRICS), "default": "COSINE"},
            "db_name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
            "timeout_seconds": {"type": "number", "minimum": 0.1, "maximum": 300,
                                "default": 10},
        },
        "additionalProperties": False,
    }
    secrets = ("token",)
    capabilities = frozenset({"filters", "partition_key"})

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.prefix: str = self.config.get("collection_prefix", "codex32")
        self.metric: str = self.config.get("metric", "COSINE")
        self.timeout: float = float(self.config.get("timeout_seconds", 10))
        self.ef_search: int = int(self.config.get("ef_search", 64))
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", self.prefix):
            raise ConfigInvalid("invalid collection prefix",
                                {"collection_prefix": ["letters, digits and _ only"]})
        if self.metric not in METRICS:
            raise ConfigInvalid("invalid metric", {"metric": [f"one of {', '.join(METRICS)}"]})
        self._client: MilvusClient | None = None
        self._uri: str | None = None
        self._lock = threading.Lock()
        self._ready: set[str] = set()  # collections known to exist, match and be loaded

    # --- the VectorStore contract ------------------------------------------------------------

    def upsert(self, workspace_id: str, collection: str, items: list[VectorItem]) -> None:
        """Insert or replace items by id within the workspace's collection."""
        workspace, collection = _workspace(workspace_id), _collection(collection)
        if not items:
            return
        dimension = len(items[0].vector)
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            if len(item.vector) != dimension:
                raise ValueError(f"dimension mismatch in one upsert: item {item.id!r} has "
                                 f"{len(item.vector)} values, the first item {dimension}")
            # Later duplicates win, as they would have in sequential upserts.
            rows[item.id] = {
                "id": f"{workspace}:{collection}:{_item_id(item.id)}",
                "workspace_id": workspace,
                "collection": collection,
                "item_id": item.id,
                "vector": _vector(item.vector),
                "metadata": _metadata(item.metadata),
            }
        name = self._collection_name(dimension)
        with self._errors("upsert"):
            self._ensure_collection(name, dimension)
            self._call_loaded(name, lambda: self._milvus().upsert(
                name, list(rows.values()), timeout=self.timeout))

    def search(self, workspace_id: str, collection: str, vector: list[float], top_k: int = 10,
               filters: dict[str, Any] | None = None) -> list[VectorMatch]:
        """Nearest items in the workspace's collection, best first; ``filters`` match metadata."""
        workspace, collection = _workspace(workspace_id), _collection(collection)
        query = _vector(vector)
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        expression = _scope(workspace, collection)
        if filters:
            equal = " and ".join(_metadata_equals(k, v) for k, v in filters.items())
            expression += f" and ({equal})"
        name = self._collection_name(len(query))
        with self._errors("search"):
            if not self._exists(name, len(query)):
                return []
            hits = self._call_loaded(name, lambda: self._milvus().search(
                name, [query.tolist()], limit=top_k, filter=expression, timeout=self.timeout,
                output_fields=["workspace_id", "collection", "item_id", "metadata"],
                search_params={"metric_type": self.metric, "params": {"ef": max(
                    self.ef_search, top_k)}}))
        matches = []
        for hit in hits[0] if hits else []:
            entity = hit.get("entity", {})
            # The filter already guarantees this; a store must never leak, so check anyway.
            if entity.get("workspace_id") != workspace or entity.get("collection") != collection:
                continue
            distance = float(hit["distance"])
            matches.append(VectorMatch(id=entity["item_id"],
                                       score=-distance if self.metric == "L2" else distance,
                                       metadata=entity.get("metadata") or {}))
        return matches

    def delete(self, workspace_id: str, collection: str, ids: list[str]) -> None:
        """Delete items by id within the workspace's collection, in every dimension."""
        workspace, collection = _workspace(workspace_id), _collection(collection)
        if not ids:
            return
        keys = ", ".join(_string_literal(f"{workspace}:{collection}:{_item_id(i)}")
                         for i in ids)
        self._delete_where(f"{_scope(workspace, collection)} and id in [{keys}]")

    def delete_collection(self, workspace_id: str, collection: str) -> bool:
        """Delete the workspace's collection, in every dimension."""
        self._delete_where(_scope(_workspace(workspace_id), _collection(collection)))
        return True

    def delete_workspace(self, workspace_id: str) -> bool:
        """Delete every vector of the workspace, in every collection and dimension."""
        self._delete_where(f"workspace_id == {_string_literal(_workspace(workspace_id))}")
        return True

    def _delete_where(self, expression: str) -> None:
        with self._errors("delete"):
            for name in self._dimension_collections():
                self._call_loaded(name, lambda name=name: self._milvus().delete(
                    name, filter=expression, timeout=self.timeout))

    def health_check(self) -> HealthResult:
        """List collections on the server and report the round trip."""
        started = time.perf_counter()
        try:
            with self._errors("health check"):
                names = self._milvus().list_collections(timeout=self.timeout)
        except ProviderError as error:
            return HealthResult(ok=False, detail=str(error),
                                latency_ms=(time.perf_counter() - started) * 1000)
        stem = f"{self.prefix}_d"
        ours = [n for n in names if n.startswith(stem) and n[len(stem):].isdigit()]
        return HealthResult(ok=True, latency_ms=(time.perf_counter() - started) * 1000,
                            detail=f"{len(ours)} collections at {_redacted(self.uri)}")

    def close(self) -> None:
        """Close the client connection."""
        with self._lock:
            client, self._client = self._client, None
            self._ready.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # --- connection and collections ------------------------------------------------------------

    @property
    def uri(self) -> str:
        """The server URI: configured, ``MILVUS_URI``, or the embedded server (started lazily)."""
        if self._uri is None:
            self._uri = self.config.get("uri") or os.environ.get("MILVUS_URI") or _embedded_uri()
        return self._uri

    def _milvus(self) -> MilvusClient:
        with self._lock:
            if self._client is None:
                options: dict[str, Any] = {"uri": self._connect_uri(),
                                           "timeout": self.timeout}
                if self.secret("token"):
                    options["token"] = self.secret("token")
                if self.config.get("db_name"):
                    options["db_name"] = self.config["db_name"]
                self._client = MilvusClient(**options)
            return self._client

    def _connect_uri(self) -> str:
        """The URI to connect to. A workspace's configured URI is a tenant's choice: it is
        resolved and checked by ``codex32.outbound`` now, and over plain http with an explicit
        port the client is given the checked address itself (pinned). The operator's
        ``MILVUS_URI`` and the embedded server are used as they are."""
        configured = self.config.get("uri")
        if not configured:
            return self.uri
        try:
            checked = resolve_url(configured)
        except UnsafeURL as exc:
            raise ProviderError(f"refused to connect: {exc}") from None
        parts = urlsplit(checked.url)
        if checked.scheme == "http" and checked.addresses and parts.port is not None:
            address = checked.addresses[0]
            shown = f"[{address}]" if ":" in address else address
            return urlunsplit(("http", f"{shown}:{parts.port}", parts.path, parts.query, ""))
        return checked.url

    def _collection_name(self, dimension: int) -> str:
        return f"{self.prefix}_d{dimension}"

    def _dimension_collections(self) -> list[str]:
        stem = f"{self.prefix}_d"
        return [n for n in self._milvus().list_collections(timeout=self.timeout)
                if n.startswith(stem) and n[len(stem):].isdigit()]

    def _exists(self, name: str, dimension: int) -> bool:
        if name in self._ready:
            return True
        client = self._milvus()
        if not client.has_collection(name, timeout=self.timeout):
            return False
        self._check_schema(name, dimension)
        # After a server restart collections come back released; load before the first search.
        if str(client.get_load_state(name, timeout=self.timeout).get("state")) != "Loaded":
            client.load_collection(name, timeout=self.timeout)
        self._ready.add(name)
        return True

    def _ensure_collection(self, name: str, dimension: int) -> None:
        if self._exists(name, dimension):
            return
        client = self._milvus()
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True,
                         max_length=40 + MAX_COLLECTION + MAX_ITEM_ID_BYTES)
        schema.add_field("workspace_id", DataType.VARCHAR, max_length=64, is_partition_key=True)
        schema.add_field("collection", DataType.VARCHAR, max_length=MAX_COLLECTION)
        schema.add_field("item_id", DataType.VARCHAR, max_length=MAX_ITEM_ID_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("metadata", DataType.JSON)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="AUTOINDEX", metric_type=self.metric)
        try:
            # Strong: the worker that searches is rarely the process that just upserted.
            client.create_collection(name, schema=schema, index_params=index,
                                     consistency_level="Strong", timeout=self.timeout)
        except MilvusException:
            # Another process may have created it between our check and our create.
            if not client.has_collection(name, timeout=self.timeout):
                raise
        self._check_schema(name, dimension)
        self._ready.add(name)

    def _check_schema(self, name: str, dimension: int) -> None:
        fields = {f["name"]: f for f in
                  self._milvus().describe_collection(name, timeout=self.timeout)["fields"]}
        vector = fields.get("vector", {})
        found = vector.get("params", {}).get("dim")
        if vector.get("type") != DataType.FLOAT_VECTOR or int(found or 0) != dimension:
            raise ConfigInvalid(f"collection {name!r} exists with vector dimension {found}, "
                                f"not {dimension}; use another collection_prefix",
                                {"collection_prefix": ["collides with an existing collection"]})
        if not fields.get("workspace_id", {}).get("is_partition_key") \
                or "collection" not in fields:
            raise ConfigInvalid(f"collection {name!r} exists without a workspace_id partition "
                                "key and a collection field; use another collection_prefix",
                                {"collection_prefix": ["collides with an existing collection"]})
        client = self._milvus()
        indexes = client.list_indexes(name, field_name="vector", timeout=self.timeout)
        metric = client.describe_index(name, indexes[0], timeout=self.timeout).get(
            "metric_type") if indexes else None
        # The metric is fixed when the index is built; searching with another is meaningless.
        if metric and metric != self.metric:
            raise ConfigInvalid(f"collection {name!r} is indexed for {metric}, not "
                                f"{self.metric}; keep the metric or use another "
                                "collection_prefix", {"metric": [f"the index uses {metric}"]})

    def _call_loaded(self, name: str, call: Any) -> Any:
        """Run ``call``; if the server restarted and released the collection, load and retry."""
        try:
            return call()
        except MilvusException as error:
            message = str(error.message).lower()
            if error.code != _NOT_LOADED and "released" not in message \
                    and "not loaded" not in message:
                raise
        self._milvus().load_collection(name, timeout=self.timeout)
        return call()

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn pymilvus errors into plugin errors; the message never carries the token.

        A failure after the whole timeout went by is a timeout (504), whatever pymilvus calls
        it: a server that accepts the connection and never answers is reported as a failed
        connection, but only after waiting the timeout out. A refusal comes at once (502).
        """
        started = time.monotonic()
        try:
            yield
        except MilvusException as error:
            self._ready.clear()
            message = str(error.message)
            token = self.secret("token")
            if token:
                message = message.replace(token, "***")
            waited = time.monotonic() - started >= self.timeout
            if waited or "deadline" in message.lower() or "timeout" in message.lower():
                raise ProviderTimeout(f"milvus {action} timed out: {message}") from None
            raise ProviderError(f"milvus {action} failed: {message}") from None
        except (RuntimeError, OSError) as error:
            # The embedded server could not be started (see codex32_milvus.server).
            raise ProviderError(f"milvus {action} failed: {error}") from None


def _embedded_uri() -> str:
    from codex32_milvus.server import DEFAULT_PORT, ensure_local_server

    data_dir = os.path.join(os.environ.get("CODEX32_DATA_DIR", ".data"), "milvus")
    return ensure_local_server(data_dir, int(os.environ.get("CODEX32_MILVUS_PORT", DEFAULT_PORT)))


def _workspace(workspace_id: str) -> str:
    """The canonical form of a workspace id; anything but a UUID is refused."""
    try:
        return str(uuid.UUID(str(workspace_id)))
    except ValueError:
        raise ValueError("workspace_id must be a UUID") from None


def _collection(collection: str) -> str:
    if not isinstance(collection, str) or not _NAME.fullmatch(collection):
        raise ValueError("collection names use 1 to 64 letters, digits or _")
    return collection


def _scope(workspace: str, collection: str) -> str:
    """The condition every statement starts with, from checked arguments only."""
    return (f"workspace_id == {_string_literal(workspace)} and "
            f"collection == {_string_literal(collection)}")


def _item_id(item_id: str) -> str:
    if not isinstance(item_id, str) or not item_id:
        raise ValueError("item ids are non-empty strings")
    if len(item_id.encode()) > MAX_ITEM_ID_BYTES:
        raise ValueError(f"item ids are at most {MAX_ITEM_ID_BYTES} bytes")
    return item_id


def _vector(values: list[float]) -> np.ndarray:
    """``values`` as float32 (what Milvus stores), checked; pymilvus takes the array as is."""
    if not 1 <= len(values) <= MAX_DIMENSION:
        raise ValueError(f"vectors have 1 to {MAX_DIMENSION} values")
    try:
        vector = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("vectors hold numbers only") from None
    if vector.ndim != 1 or not np.isfinite(vector).all():
        raise ValueError("vectors hold finite numbers only (within float32)")
    return vector


def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(metadata or {}, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError("metadata must be JSON-serializable") from None


def _string_literal(value: str) -> str:
    """A double-quoted Milvus expression literal holding exactly ``value``."""
    if any((ord(c) < 0x20 and c not in _ESCAPES) or ord(c) == 0x7F for c in value):
        raise ValueError("filter values may not contain control characters")
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def _metadata_equals(key: str, value: Any) -> str:
    """``metadata["key"] == value`` with the key checked and the value as a typed literal."""
    if not isinstance(key, str) or not _FILTER_KEY.fullmatch(key):
        raise ValueError("filter keys use letters, digits, _ . : - (at most 64)")
    if isinstance(value, bool):
        literal = "true" if value else "false"
    elif isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError("integer filter values must fit in 64 bits")
        literal = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("float filter values must be finite")
        literal = repr(value)
    elif isinstance(value, str):
        literal = _string_literal(value)
    else:
        raise ValueError("filter values are strings, numbers or booleans")
    return f"metadata[{_string_literal(key)}] == {literal}"


def _redacted(uri: str) -> str:
    """The URI without credentials, path or query: scheme://host:port."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"
