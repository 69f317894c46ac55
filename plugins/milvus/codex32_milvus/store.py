"""MilvusVectorStore: vectors in Milvus, one Milvus collection per embedding dimension.

Every workspace and every one of its collections shares the dimension's Milvus collection
(``{prefix}_d{dimension}``): ``workspace_id`` is its partition key, the caller's collection a
field, and the primary key is ``"{workspace}:{collection}:{id}"``. So a deployment holds a few
Milvus collections, not one per dataset (the limit Milvus users meet first), and a workspace's
rows are bucketed together. Every search, upsert and delete builds its scope,
``workspace_id == "<ws>" and collection == "<name>"``, here from its arguments, never from
caller text, and ANDs the caller's metadata filters to it as escaped literals in parentheses
(:mod:`codex32_milvus.expressions`); a dimension's collection is created and checked by
:mod:`codex32_milvus.schema`. No Flask, no database, no globals.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from codex32.plugins.api import (
    ConfigInvalid,
    HealthResult,
    ProviderError,
    ProviderTimeout,
    UnsafeURL,
    VectorItem,
    VectorMatch,
    VectorStore,
    checked_collection,
    checked_item_id,
    checked_vector,
    checked_workspace,
    resolve_url,
)
from codex32_milvus.expressions import metadata_equals, scope, string_literal

if TYPE_CHECKING:
    from pymilvus import MilvusClient, MilvusException

METRICS = ("COSINE", "IP", "L2")
MAX_DIMENSION = 32768  # Milvus's limit for FLOAT_VECTOR
MAX_TOP_K = 16384

_NOT_LOADED = 101  # Milvus's code for "collection not loaded"
# The operator's server, as a generation records it (VectorStore.operator_placement).
OPERATOR_URI = "operator_uri"
EMBEDDED = "embedded"



def _milvus_error() -> type[MilvusException]:
    """pymilvus's exception class; pymilvus is imported on first use, not when the plugins
    load (every process loading them would pay its 0.9 s of CPU)."""
    from pymilvus import MilvusException

    return MilvusException

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
    # Where vectors are kept; ef_search and timeout_seconds only tune calls. (With no uri,
    # the operator's MILVUS_URI or the embedded server: the operator's, not the workspace's.)
    placement = frozenset({"uri", "db_name", "collection_prefix", "metric"})

    @classmethod
    def operator_placement(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Without a configured ``uri``, the operator's server: ``MILVUS_URI`` (without
        credentials), or ``embedded`` for the embedded server."""
        return {} if config.get("uri") else {OPERATOR_URI: _operator_server()}

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
        workspace, collection = checked_workspace(workspace_id), checked_collection(collection)
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
                "id": f"{workspace}:{collection}:{checked_item_id(item.id)}",
                "workspace_id": workspace,
                "collection": collection,
                "item_id": item.id,
                "vector": checked_vector(item.vector, MAX_DIMENSION),
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
        workspace, collection = checked_workspace(workspace_id), checked_collection(collection)
        query = checked_vector(vector, MAX_DIMENSION)
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        expression = scope(workspace, collection)
        if filters:
            equal = " and ".join(metadata_equals(k, v) for k, v in filters.items())
            expression += f" and ({equal})"
        name = self._collection_name(len(query))
        with self._errors("search"):
            if not self._exists(name, len(query)):
                return []
            hits = self._call_loaded(name, lambda: self._milvus().search(
                name, [query], limit=top_k, filter=expression, timeout=self.timeout,
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
        workspace, collection = checked_workspace(workspace_id), checked_collection(collection)
        if not ids:
            return
        keys = ", ".join(string_literal(f"{workspace}:{collection}:{checked_item_id(i)}")
                         for i in ids)
        self._delete_where(f"{scope(workspace, collection)} and id in [{keys}]")

    def delete_collection(self, workspace_id: str, collection: str) -> bool:
        """Delete the workspace's collection, in every dimension."""
        self._delete_where(scope(checked_workspace(workspace_id), checked_collection(collection)))
        return True

    def delete_workspace(self, workspace_id: str) -> bool:
        """Delete every vector of the workspace, in every collection and dimension."""
        self._delete_where(f"workspace_id == {string_literal(checked_workspace(workspace_id))}")
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
        """The server URI: configured, else the operator's: the one a generation recorded
        (``operator_uri``) when the operator has moved since, else ``MILVUS_URI``, else the
        embedded server (started lazily)."""
        if self._uri is None:
            recorded, now = self.config.get(OPERATOR_URI), os.environ.get("MILVUS_URI")
            if recorded is None or recorded == _operator_server():
                operator = now or _embedded_uri()
            else:
                operator = _embedded_uri() if recorded == EMBEDDED else str(recorded)
            self._uri = self.config.get("uri") or operator
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
                from pymilvus import MilvusClient  # imported on first use (0.9 s of CPU)

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
        from codex32_milvus import schema

        schema.check(client, name, dimension, self.metric, self.timeout)
        # After a server restart collections come back released; load before the first search.
        if str(client.get_load_state(name, timeout=self.timeout).get("state")) != "Loaded":
            client.load_collection(name, timeout=self.timeout)
        self._ready.add(name)
        return True

    def _ensure_collection(self, name: str, dimension: int) -> None:
        if self._exists(name, dimension):
            return
        from codex32_milvus import schema

        schema.create(self._milvus(), name, dimension, self.metric, self.timeout)
        self._ready.add(name)

    def _call_loaded(self, name: str, call: Any) -> Any:
        """Run ``call``; if the server restarted and released the collection, load and retry."""
        try:
            return call()
        except _milvus_error() as error:
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
        except _milvus_error() as error:
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


def _operator_server() -> str:
    """Where the operator's environment puts milvus now: ``MILVUS_URI`` without its user
    information (a recorded place holds no credentials), or the embedded server."""
    uri = os.environ.get("MILVUS_URI")
    if not uri:
        return EMBEDDED
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _embedded_uri() -> str:
    from codex32_milvus.server import DEFAULT_PORT, ensure_local_server

    data_dir = os.path.join(os.environ.get("CODEX32_DATA_DIR", ".data"), "milvus")
    return ensure_local_server(data_dir, int(os.environ.get("CODEX32_MILVUS_PORT", DEFAULT_PORT)))


def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(metadata or {}, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError("metadata must be JSON-serializable") from None


def _redacted(uri: str) -> str:
    """The URI without credentials, path or query: scheme://host:port."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"
