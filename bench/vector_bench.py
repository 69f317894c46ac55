"""Vector stores side by side: recall@10 against exact search, query latency and indexing
throughput, each through the store plugin and through the store's own client directly.

    python bench/vector_bench.py [--size 100000] [--dim 384] [--queries 200]
                                 [--stores pgvector,milvus] [--ef 40,100]

Data: ``--size`` unit vectors in ``--clusters`` Gaussian clusters (what embeddings of related
documents look like; uniform random vectors make every index look bad), queries drawn from the
same clusters. Ground truth: exact cosine top-10 by numpy.

Workspace A gets ``--size`` vectors. The first ``--paired`` go in batches of 500 through the
plugin (``upsert``), in turns with the same batches into workspace B through the store's own
client (psycopg as the runtime role with the same SQL; pymilvus into the same Milvus
collection), so both paths meet the same index state: that gives the indexing throughput and
its ratio. The rest is a bulk load, the way a re-index would run: for pgvector the HNSW index is
dropped, the rows inserted by the client and the index rebuilt in one build (timed); for milvus
the client inserts them (milvus-lite indexes each flushed segment). ``--through-plugin`` loads
all of it through the plugin instead, as incremental index inserts (slow: minutes per 10,000 on
a loaded machine). Workspace B's rows stay: every search is filtered to one workspace of two in
one index, the multi-tenant case the stores are built for.
Queries alternate plugin and client on workspace A; the ratio plugin/client is the plugin's
cost. pgvector: HNSW m=16, ef_construction=64 (the migration's), searched at each ``--ef``
with iterative scans; milvus-lite 3.2: AUTOINDEX (faiss HNSW, M=16, efConstruction=200) at
ef=64. The machine is shared: compare ratios within one run, not absolute figures across runs.

Everything it starts (an embedded PostgreSQL, a milvus-lite server) is stopped and its folders
removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for folder in ("platform", "plugins/pgvector", "plugins/milvus"):
    sys.path.insert(0, str(ROOT / folder))

from codex32.config import Settings  # noqa: E402
from codex32.plugins.interfaces import VectorItem  # noqa: E402

WORKSPACE_A = str(uuid.UUID(int=0xA11CE))
WORKSPACE_B = str(uuid.UUID(int=0xB0B))
COLLECTION = "bench"
BATCH = 500
K = 10


def clustered(count: int, dim: int, clusters: int, seed: int,
              centers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unit vectors around ``clusters`` random centres (spread 0.35 per axis-norm)."""
    rng = np.random.default_rng(seed)
    if centers is None:
        centers = rng.standard_normal((clusters, dim)).astype(np.float32)
        centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    labels = rng.integers(0, len(centers), count)
    noise = rng.standard_normal((count, dim)).astype(np.float32) * (0.35 / np.sqrt(dim))
    vectors = centers[labels] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), centers


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int = K) -> list[set[str]]:
    """The ids of the exact top ``k`` by cosine (unit vectors: the dot product)."""
    truth = []
    for start in range(0, len(queries), 50):
        scores = queries[start:start + 50] @ data.T
        best = np.argpartition(-scores, k, axis=1)[:, :k]
        truth += [{f"v{i}" for i in row} for row in best]
    return truth


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- pgvector ------------------------------------------------------------------------------


@contextlib.contextmanager
def pgvector_side(folder: Path, ef: int) -> Iterator[dict[str, Any]]:
    """The embedded PostgreSQL, migrated, a runtime on it, the plugin and a psycopg client."""
    import psycopg
    from codex32_pgvector import PgVectorStore, nearest_sql
    from pgvector.psycopg import register_vector

    from codex32.db import embedded
    from codex32.db.migrate import upgrade
    from codex32.db.urls import libpq_url
    from codex32.runtime import activated, bootstrap

    database = embedded.start(folder / "pg", "codex32_bench")
    try:
        upgrade(database.owner_url, database.runtime_url)
        admin = database.superuser_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as connection:
            for workspace in (WORKSPACE_A, WORKSPACE_B):
                connection.execute("INSERT INTO workspaces (id, name, slug) VALUES "
                                   "(%s, 'bench', %s)", (workspace, workspace))
        settings = Settings(env="test", data_dir=folder, secret_key="s" * 48,
                            jwt_secret_key="j" * 48, secrets_keys=["k" * 44],
                            log_level="WARNING", log_json=False)
        from codex32.db.urls import DatabaseUrls

        runtime = bootstrap.build(settings, DatabaseUrls(runtime=database.runtime_url,
                                                         owner=database.owner_url), "cli")
        client = psycopg.connect(libpq_url(database.runtime_url))
        register_vector(client)  # pgvector's own psycopg types: numpy arrays sent in binary
        stores: dict[int, PgVectorStore] = {}

        def at(ef_search: int) -> PgVectorStore:
            return stores.setdefault(ef_search, PgVectorStore({"ef_search": ef_search}))

        insert = ("INSERT INTO vector_items (workspace_id, collection, dimension, item_id, "
                  "embedding, metadata) VALUES (%s, %s, %s, %s, %s::vector::real[], %s::jsonb) "
                  "ON CONFLICT (workspace_id, collection, dimension, item_id) DO UPDATE SET "
                  "embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata")

        def direct_load(ids: list[str], vectors: np.ndarray,
                        workspace: str = WORKSPACE_B) -> None:
            with client.transaction(), client.cursor() as cursor:
                cursor.execute("SELECT set_config('app.workspace_id', %s, true)", (workspace,))
                cursor.executemany(insert, [(workspace, COLLECTION, len(v), i, v, "{}")
                                            for i, v in zip(ids, vectors, strict=True)])

        def as_admin(*statements: str) -> None:
            with psycopg.connect(admin, autocommit=True) as connection:
                for statement in statements:
                    connection.execute(statement)

        def direct_query(vector: np.ndarray, ef_search: int) -> list[str]:
            sql = nearest_sql(len(vector)).replace(":workspace", "%(workspace)s").replace(
                ":collection", "%(collection)s").replace(":query", "%(query)s").replace(
                ":top_k", "%(top_k)s")
            with client.transaction(), client.cursor() as cursor:
                cursor.execute("SELECT set_config('app.workspace_id', %s, true)",
                               (WORKSPACE_A,))
                cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}; "
                               "SET LOCAL hnsw.iterative_scan = relaxed_order")
                cursor.execute(sql, {"workspace": WORKSPACE_A, "collection": COLLECTION,
                                     "query": vector, "top_k": K})
                return [row[0] for row in cursor.fetchall()]

        def plan(vector: np.ndarray) -> str:
            sql = nearest_sql(len(vector)).replace(":workspace", f"'{WORKSPACE_A}'").replace(
                ":collection", f"'{COLLECTION}'").replace(":top_k", str(K)).replace(
                ":query", "'[" + ",".join(map(repr, vector.tolist())) + "]'")
            with client.transaction(), client.cursor() as cursor:
                cursor.execute("SELECT set_config('app.workspace_id', %s, true)",
                               (WORKSPACE_A,))
                cursor.execute("EXPLAIN " + sql)
                return " ".join(row[0].strip() for row in cursor.fetchall()
                                if "Index Scan" in row[0] or "Seq Scan" in row[0])

        with activated(runtime):
            yield {
                "name": "pgvector",
                "store_load": lambda ids, vectors: at(ef).upsert(WORKSPACE_A, COLLECTION, [
                    VectorItem(i, v.tolist()) for i, v in zip(ids, vectors, strict=True)]),
                "direct_load": direct_load,
                "store_query": lambda vector, ef_search: [hit.id for hit in at(
                    ef_search).search(WORKSPACE_A, COLLECTION, vector.tolist(), top_k=K)],
                "direct_query": direct_query,
                "plan": plan,
                # What autovacuum does after a load, now: the planner needs the row counts to
                # pick the HNSW index for a large workspace (and exact search for a small one).
                "settle": lambda: as_admin("ANALYZE vector_items"),
                "bulk_begin": lambda dim: as_admin(f"DROP INDEX vector_items_hnsw_d{dim}"),
                "bulk_load": lambda ids, vectors: direct_load(ids, vectors, WORKSPACE_A),
                "bulk_end": lambda dim: as_admin("SET maintenance_work_mem = '512MB'",
                                                 f"SELECT codex32_vector_index({dim})"),
            }
        client.close()
        runtime.engine.dispose()
    finally:
        embedded.stop(folder / "pg", immediate=True)


# --- milvus --------------------------------------------------------------------------------


@contextlib.contextmanager
def milvus_side(folder: Path, ef: int) -> Iterator[dict[str, Any]]:
    """A milvus-lite server, the plugin and a pymilvus client on the same collection."""
    from codex32_milvus import MilvusVectorStore
    from codex32_milvus.server import start_server, wait_until_ready
    from pymilvus import MilvusClient

    from codex32.testing.receivers import free_port

    port = free_port()
    process = start_server(folder / "milvus", port)
    try:
        wait_until_ready(port, process=process, data_dir=folder / "milvus", timeout=60)
        uri = f"http://127.0.0.1:{port}"
        stores: dict[int, MilvusVectorStore] = {}

        def at(ef_search: int) -> MilvusVectorStore:
            return stores.setdefault(ef_search, MilvusVectorStore(
                {"uri": uri, "collection_prefix": "bench", "ef_search": ef_search,
                 "timeout_seconds": 120}))

        client = MilvusClient(uri=uri, timeout=120)

        def name(dimension: int) -> str:
            return f"bench_d{dimension}"

        data_dimension = [0]

        def direct_load(ids: list[str], vectors: np.ndarray,
                        workspace: str = WORKSPACE_B) -> None:
            data_dimension[0] = vectors.shape[1]
            client.upsert(name(vectors.shape[1]), [
                {"id": f"{workspace}:{COLLECTION}:{i}", "workspace_id": workspace,
                 "collection": COLLECTION, "item_id": i, "vector": v.tolist(), "metadata": {}}
                for i, v in zip(ids, vectors, strict=True)])

        def direct_query(vector: np.ndarray, ef_search: int) -> list[str]:
            hits = client.search(
                name(len(vector)), [vector.tolist()], limit=K, output_fields=["item_id"],
                filter=f'workspace_id == "{WORKSPACE_A}" and collection == "{COLLECTION}"',
                search_params={"metric_type": "COSINE", "params": {"ef": ef_search}})
            return [hit["entity"]["item_id"] for hit in hits[0]]

        yield {
            "name": "milvus",
            "store_load": lambda ids, vectors: at(ef).upsert(WORKSPACE_A, COLLECTION, [
                VectorItem(i, v.tolist()) for i, v in zip(ids, vectors, strict=True)]),
            "direct_load": direct_load,
            "store_query": lambda vector, ef_search: [hit.id for hit in at(ef_search).search(
                WORKSPACE_A, COLLECTION, vector.tolist(), top_k=K)],
            "direct_query": direct_query,
            "plan": lambda vector: "AUTOINDEX (faiss HNSW) on flushed segments",
            "settle": lambda: client.flush(name(data_dimension[0])),
            "bulk_begin": lambda dim: None,
            "bulk_load": lambda ids, vectors: direct_load(ids, vectors, WORKSPACE_A),
            "bulk_end": lambda dim: None,
        }
        client.close()
        for store in stores.values():
            store.close()
    finally:
        process.terminate()
        with contextlib.suppress(Exception):
            process.wait(timeout=30)


# --- the measurements ----------------------------------------------------------------------


def load(side: dict[str, Any], data: np.ndarray, paired: int,
         through_plugin: bool) -> dict[str, float]:
    """The paired part in turns (plugin into A, client into B), then the rest into A: through
    the plugin, or in bulk. Vectors/s per path on the paired part; seconds of the rest."""
    seconds = {"store": 0.0, "direct": 0.0, "rest": 0.0}
    rest = "store" if through_plugin else "bulk"
    for number, start in enumerate(range(0, len(data), BATCH)):
        ids = [f"v{i}" for i in range(start, min(start + BATCH, len(data)))]
        batch = data[start:start + BATCH]
        order = ("store", "direct") if number % 2 == 0 else ("direct", "store")
        if start == paired and rest == "bulk":
            side["bulk_begin"](data.shape[1])
        for path in order if start < paired else (rest,):
            began = time.perf_counter()
            side[f"{path}_load"](ids, batch)
            seconds["rest" if start >= paired else path] += time.perf_counter() - began
    if rest == "bulk" and len(data) > paired:
        began = time.perf_counter()
        side["bulk_end"](data.shape[1])
        seconds["build"] = time.perf_counter() - began
        seconds["rest"] += seconds["build"]
    count = min(paired, len(data))
    return {"store": count / seconds["store"], "direct": count / seconds["direct"],
            "rest": seconds["rest"], "build": seconds.get("build", 0.0)}


def query(side: dict[str, Any], queries: np.ndarray, truth: list[set[str]],
          ef: int) -> dict[str, Any]:
    """Recall@10 and latency per path, alternating plugin and client query by query."""
    found: dict[str, list[float]] = {"store": [], "direct": []}
    times: dict[str, list[float]] = {"store": [], "direct": []}
    side["store_query"](queries[0], ef)  # warm the plugin's first-use checks
    for number, (vector, expected) in enumerate(zip(queries, truth, strict=True)):
        order = ("store", "direct") if number % 2 == 0 else ("direct", "store")
        for path in order:
            began = time.perf_counter()
            ids = side[f"{path}_query"](vector, ef)
            times[path].append((time.perf_counter() - began) * 1000)
            found[path].append(len(expected & set(ids)) / K)
    return {path: {"recall": statistics.fmean(found[path]),
                   "p50": percentile(times[path], 0.50), "p99": percentile(times[path], 0.99)}
            for path in times}


def run(store: str, folder: Path, data: np.ndarray, queries: np.ndarray,
        truth: list[set[str]], efs: list[int], paired: int,
        through_plugin: bool) -> dict[str, Any]:
    opener: Callable[..., Any] = pgvector_side if store == "pgvector" else milvus_side
    with opener(folder, efs[0]) as side:
        began = time.perf_counter()
        rates = load(side, data, paired, through_plugin)
        loaded = time.perf_counter() - began
        side["settle"]()
        results = {ef: query(side, queries, truth, ef) for ef in efs}
        plan = side["plan"](queries[0])
    return {"rates": rates, "loaded_seconds": loaded, "results": results, "plan": plan}


def report(name: str, figures: dict[str, Any], size: int, paired: int) -> None:
    rates = figures["rates"]
    rest = max(size - paired, 0)
    print(f"\n{name}: {size:,} vectors in workspace A (+{min(paired, size):,} in B), loaded in "
          f"{figures['loaded_seconds']:.1f} s; the last {rest:,} in {rates['rest']:.1f} s"
          + (f" (index build {rates['build']:.1f} s)" if rates["build"] >= 0.05 else ""))
    print(f"  plan: {figures['plan']}")
    print(f"  indexing (first {min(paired, size):,}, in turns)  plugin {rates['store']:6.0f} "
          f"vectors/s   client {rates['direct']:6.0f} vectors/s   plugin/client "
          f"{rates['store'] / rates['direct']:.2f}")
    for ef, result in figures["results"].items():
        store, direct = result["store"], result["direct"]
        print(f"  ef={ef:<4} recall@10 plugin {store['recall']:.3f} client {direct['recall']:.3f}"
              f" | p50 plugin {store['p50']:6.2f} ms client {direct['p50']:6.2f} ms "
              f"(x{store['p50'] / direct['p50']:.2f}) | p99 plugin {store['p99']:6.2f} ms "
              f"client {direct['p99']:6.2f} ms (x{store['p99'] / direct['p99']:.2f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="vectors per workspace")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--paired", type=int, default=10_000,
                        help="vectors loaded through both paths (the indexing ratio)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--through-plugin", action="store_true",
                        help="load everything through the plugin (incremental index inserts)")
    parser.add_argument("--stores", default="pgvector,milvus")
    parser.add_argument("--ef", default="40,100", help="ef_search values to measure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    efs = [int(value) for value in args.ef.split(",")]
    data, centers = clustered(args.size, args.dim, args.clusters, seed=1)
    queries, _ = clustered(args.queries, args.dim, args.clusters, seed=2, centers=centers)
    truth = exact_top_k(data, queries)
    print(f"{args.size:,} x {args.dim} clustered vectors ({args.clusters} clusters), "
          f"{args.queries} queries, recall@10 against exact cosine search")
    folder = Path(tempfile.mkdtemp(prefix="codex32-vector-bench-"))
    try:
        for store in args.stores.split(","):
            report(store, run(store, folder, data, queries, truth, efs, args.paired,
                              args.through_plugin), args.size, args.paired)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
