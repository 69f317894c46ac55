"""PgVectorStore: vectors in the platform's own PostgreSQL, in ``vector_items``, under RLS.

Every statement runs on a connection the core lends (``database_connection``): the runtime
role, in a transaction bound to the workspace named in the call, so row-level security filters
what this code could forget to. It adds ``workspace_id = :workspace`` to every statement all
the same. Values are bound parameters; the only numbers written into SQL are the dimension and
the settings, checked as integers first (a partial index is chosen only for a constant).

The table (migrations/versions/0011_pgvector.py) holds every dimension: ``embedding real[]``,
with one partial HNSW index per dimension over ``embedding::vector(d)``, built by the
``codex32_vector_index(d)`` function the first time a dimension is written. A search scans that
index with pgvector 0.8's iterative scans, so the workspace, collection and metadata filters
still fill ``top_k`` when the nearest vectors belong to others.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
from pgvector import Vector
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from sqlalchemy import exc, text
from sqlalchemy.engine import Connection

from codex32.plugins.api import (
    HealthResult,
    ProviderError,
    ProviderTimeout,
    VectorItem,
    VectorMatch,
    VectorStore,
    checked_collection,
    checked_item_id,
    checked_vector,
    checked_workspace,
    database_connection,
)

TABLE = "vector_items"
MIN_VERSION = (0, 8)  # iterative index scans
MAX_DIMENSION = 16000  # pgvector's limit for ``vector``
MAX_INDEXED_DIMENSION = 2000  # HNSW's limit for ``vector``; larger ones are searched exactly
MAX_ITEM_ID_BYTES = 256  # within varchar(256)
MAX_TOP_K = 1000
SCAN_MODES = ("relaxed_order", "strict_order", "off")

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")


class PgVectorStore(VectorStore):
    """pgvector in the platform's PostgreSQL: no server of its own, rows under RLS."""

    id = "pgvector"
    title = "pgvector (the platform's PostgreSQL)"
    description = ("Vectors in the platform's own PostgreSQL with pgvector: HNSW (cosine), "
                   "iterative scans for filtered searches, rows under row-level security "
                   "beside the text and metadata they index.")
    config_schema = {
        "type": "object",
        "properties": {
            "ef_search": {"type": "integer", "minimum": 10, "maximum": 1000, "default": 100,
                          "description": "HNSW candidates per search (recall against speed; "
                                         "bench/vector_bench.py: 0.97 to 0.99 recall@10 at "
                                         "100 on 100,000 vectors, 0.95 to 0.98 at 40)"},
            "iterative_scan": {"enum": list(SCAN_MODES), "default": "relaxed_order",
                               "description": "pgvector 0.8 iterative index scans for "
                                              "filtered searches"},
            "max_scan_tuples": {"type": "integer", "minimum": 100, "maximum": 1000000,
                                "default": 20000,
                                "description": "bound on the rows an iterative scan visits"},
            "timeout_seconds": {"type": "number", "minimum": 0.1, "maximum": 300,
                                "default": 10},
        },
        "additionalProperties": False,
    }
    capabilities = frozenset({"filters", "sql", "transactions"})
    placement = frozenset()  # always the platform's database: the settings tune searches

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.ef_search = int(self.config.get("ef_search", 100))
        self.iterative_scan = str(self.config.get("iterative_scan", "relaxed_order"))
        self.max_scan_tuples = int(self.config.get("max_scan_tuples", 20000))
        self.timeout = float(self.config.get("timeout_seconds", 10))
        if self.iterative_scan not in SCAN_MODES:
            raise ValueError(f"iterative_scan is one of {', '.join(SCAN_MODES)}")
        self._checked = False
        self._indexed: set[int] = set()

    # -- the VectorStore interface -----------------------------------------------------------

    def upsert(self, workspace_id: str, collection: str, items: list[VectorItem]) -> None:
        """Insert or replace items by (collection, dimension, id); one dimension per call."""
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
            rows[checked_item_id(item.id, MAX_ITEM_ID_BYTES)] = {
                "workspace": workspace, "collection": collection, "dimension": dimension,
                "item_id": item.id, "embedding": Vector(_vector(item.vector)),
                "metadata": _metadata(item.metadata)}
        with self._connection(workspace, "upsert") as connection:
            self._ensure_index(connection, dimension)
            connection.execute(text(
                f"INSERT INTO {TABLE} (workspace_id, collection, dimension, item_id, embedding, "
                "metadata) VALUES (:workspace, :collection, :dimension, :item_id, "
                "CAST(CAST(:embedding AS vector) AS real[]), CAST(:metadata AS jsonb)) "
                "ON CONFLICT (workspace_id, collection, dimension, item_id) DO UPDATE SET "
                "embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, "
                "updated_at = now()"), list(rows.values()))

    def search(self, workspace_id: str, collection: str, vector: list[float], top_k: int = 10,
               filters: dict[str, Any] | None = None) -> list[VectorMatch]:
        """Nearest items by cosine similarity (the score, 1 - distance), best first."""
        workspace, collection = checked_workspace(workspace_id), checked_collection(collection)
        query = _vector(vector)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        statement = nearest_sql(len(query), bool(filters))
        params: dict[str, Any] = {"workspace": workspace, "collection": collection,
                                  "query": Vector(query), "top_k": top_k}
        if filters:
            params["filters"] = json.dumps(_filters(filters))
        with self._connection(workspace, "search", self._scan_settings(top_k)) as connection:
            rows = connection.execute(text(statement), params).all()
        return [VectorMatch(id=row.item_id, score=1.0 - float(row.distance),
                            metadata=dict(row.metadata or {})) for row in rows]

    def delete(self, workspace_id: str, collection: str, ids: list[str]) -> None:
        """Delete items by id within the workspace's collection, in every dimension."""
        workspace, collection = checked_workspace(workspace_id), checked_collection(collection)
        if not ids:
            return
        keys = [checked_item_id(item_id, MAX_ITEM_ID_BYTES) for item_id in ids]
        with self._connection(workspace, "delete") as connection:
            connection.execute(text(
                f"DELETE FROM {TABLE} WHERE workspace_id = :workspace "
                "AND collection = :collection AND item_id = ANY(:ids)"),
                {"workspace": workspace, "collection": collection, "ids": keys})

    def delete_collection(self, workspace_id: str, collection: str) -> bool:
        """Delete the workspace's collection, every dimension."""
        workspace, collection = checked_workspace(workspace_id), checked_collection(collection)
        with self._connection(workspace, "delete") as connection:
            connection.execute(text(f"DELETE FROM {TABLE} WHERE workspace_id = :workspace "
                                    "AND collection = :collection"),
                               {"workspace": workspace, "collection": collection})
        return True

    def delete_workspace(self, workspace_id: str) -> bool:
        """Delete every vector of the workspace (deleting the workspace's row does it too)."""
        workspace = checked_workspace(workspace_id)
        with self._connection(workspace, "delete") as connection:
            connection.execute(text(f"DELETE FROM {TABLE} WHERE workspace_id = :workspace"),
                               {"workspace": workspace})
        return True

    def health_check(self) -> HealthResult:
        """Whether the platform's PostgreSQL has pgvector >= 0.8 and the table; no tenant row
        is read."""
        started = time.perf_counter()
        try:
            with self._errors("health check"), database_connection(None) as connection:
                version, indexed = self._availability(connection)
        except ProviderError as error:
            return HealthResult(ok=False, detail=str(error),
                                latency_ms=(time.perf_counter() - started) * 1000)
        return HealthResult(ok=True, latency_ms=(time.perf_counter() - started) * 1000,
                            detail=f"pgvector {version} in the platform's PostgreSQL; HNSW "
                                   f"indexes for {len(indexed)} dimensions")

    # -- the platform's database ------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self, workspace: str, action: str,
                    settings: str = "") -> Iterator[Connection]:
        """The lent connection, its statement timeout and ``settings`` set in one round trip."""
        with self._errors(action), database_connection(workspace) as connection:
            if not self._checked:
                self._availability(connection)
                self._checked = True
            _send_vectors_in_binary(connection)
            # Integers and a checked keyword only: SET takes no bind parameters.
            connection.exec_driver_sql(
                f"SET LOCAL statement_timeout = {max(1, int(self.timeout * 1000))}; {settings}")
            yield connection

    def _availability(self, connection: Connection) -> tuple[str, list[int]]:
        """pgvector's version and the indexed dimensions; ProviderError when it cannot serve."""
        version = connection.execute(text(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        if version is None:
            available = connection.execute(text(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            )).scalar()
            hint = (f"it is available ({available}): a superuser runs CREATE EXTENSION vector"
                    if available else "install pgvector >= 0.8 on the server, then a "
                                      "superuser runs CREATE EXTENSION vector")
            raise ProviderError("pgvector is unavailable: the extension is not installed in "
                                f"the platform's PostgreSQL; {hint} (docs/operations.md)")
        if _version(version) < MIN_VERSION:
            raise ProviderError(f"pgvector is unavailable: version {version} lacks iterative "
                                "index scans; ALTER EXTENSION vector UPDATE to 0.8 or later")
        if connection.execute(text(f"SELECT to_regclass('{TABLE}')")).scalar() is None:
            raise ProviderError(f"pgvector is unavailable: the table {TABLE} is missing; run "
                                "the migrations (codex32 db upgrade)")
        names = connection.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = :table "
            "AND indexname LIKE 'vector\\_items\\_hnsw\\_d%'"), {"table": TABLE}).scalars()
        return str(version), sorted(int(name.rsplit("_d", 1)[1]) for name in names)

    def _ensure_index(self, connection: Connection, dimension: int) -> None:
        if dimension in self._indexed or dimension > MAX_INDEXED_DIMENSION:
            return
        connection.execute(text("SELECT codex32_vector_index(:dimension)"),
                           {"dimension": dimension})
        self._indexed.add(dimension)

    def _scan_settings(self, top_k: int) -> str:
        return (f"SET LOCAL hnsw.ef_search = {max(self.ef_search, top_k)}; "
                f"SET LOCAL hnsw.iterative_scan = {self.iterative_scan}; "
                f"SET LOCAL hnsw.max_scan_tuples = {self.max_scan_tuples}")

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Database errors as plugin errors: a cancelled statement is a timeout."""
        try:
            yield
        except exc.OperationalError as error:
            if "canceling statement" in str(error.orig):
                raise ProviderTimeout(f"pgvector {action} timed out after "
                                      f"{self.timeout:g} s") from None
            raise ProviderError(f"pgvector {action} failed: {_first_line(error)}") from None
        except exc.DBAPIError as error:
            self._checked = False
            raise ProviderError(f"pgvector {action} failed: {_first_line(error)}") from None
        except RuntimeError as error:  # no runtime: not inside the platform
            raise ProviderError(f"pgvector {action} failed: {error}") from None


def nearest_sql(dimension: int, filtered: bool = False) -> str:
    """The search statement for ``dimension``: the ``:top_k`` nearest rows of ``:workspace``'s
    ``:collection`` to ``:query`` (a ``pgvector.Vector``, or a ``'[1,2,…]'`` literal), with
    ``:filters`` (JSON) when ``filtered``. Written so the dimension's partial HNSW index serves
    it; core code may join ``nearest`` to its own tables by ``item_id``."""
    if not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
        raise ValueError(f"vectors have 1 to {MAX_DIMENSION} values")
    distance = f"(embedding::vector({dimension})) <=> CAST(:query AS vector({dimension}))"
    where = ("workspace_id = :workspace AND collection = :collection "
             f"AND dimension = {dimension}")
    if filtered:
        where += " AND metadata @> CAST(:filters AS jsonb)"
    # Relaxed order may return rows slightly out of order: materialize, then sort again.
    return (f"WITH nearest AS MATERIALIZED (SELECT item_id, metadata, {distance} AS distance "
            f"FROM {TABLE} WHERE {where} ORDER BY {distance} LIMIT :top_k) "
            "SELECT item_id, metadata, distance FROM nearest ORDER BY distance, item_id")


def _vector(values: list[float]) -> list[float]:
    """``values`` checked: what pgvector stores (float32), with a direction for cosine."""
    return checked_vector(values, MAX_DIMENSION, nonzero=True)


def _send_vectors_in_binary(connection: Connection) -> None:
    """Let psycopg send ``Vector`` values in pgvector's binary format (4 bytes a value, nothing
    for the server to parse: several times the insert rate of float arrays), once per pooled
    connection."""
    pooled = connection.connection
    if not pooled.info.get("codex32_pgvector"):
        driver = pooled.driver_connection
        assert isinstance(driver, psycopg.Connection), "the platform's driver is psycopg 3"
        register_vector_info(driver, TypeInfo.fetch(driver, "vector"))
        pooled.info["codex32_pgvector"] = True


def _metadata(metadata: dict[str, Any]) -> str:
    try:
        return json.dumps(metadata or {}, allow_nan=False).replace("\\u0000", "")
    except (TypeError, ValueError):
        raise ValueError("metadata must be JSON-serializable") from None


def _filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Equality on flat metadata, as jsonb containment: keys checked, values scalars."""
    for key, value in filters.items():
        if not isinstance(key, str) or not _FILTER_KEY.fullmatch(key):
            raise ValueError("filter keys use letters, digits, _ . : - (at most 64)")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("float filter values must be finite")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("filter values may not contain NUL")
        if not isinstance(value, str | int | float | bool):
            raise ValueError("filter values are strings, numbers or booleans")
    return dict(filters)


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def _first_line(error: exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
