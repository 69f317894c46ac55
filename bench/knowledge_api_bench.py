"""The knowledge base through the product, against the vector store's own client, per store:
query latency of ``GET /api/v1/search`` and indexing throughput through the queue.

    python bench/knowledge_api_bench.py [--documents 120] [--queries 150] [--stores pgvector,milvus]

Starts a migrated PostgreSQL (bench/harness.py), a milvus-lite server, the product under
gunicorn as deployed (bench/run.py: production settings, 2 gthread workers) and one
``codex32 worker``, all on 127.0.0.1. Per store, a workspace whose vector store is that store
(pgvector is the platform default; the milvus one sets ``defaults.vector_store``):

1. indexing: ``--documents`` Markdown documents (about 1,500 words under headings each) are
   uploaded through the API while the worker is frozen (SIGSTOP), then it is released and
   timed until every document is ``indexed``: chunks/s through the queue (parse, chunk, embed
   through the gateway with its ledger, write, mark; the hashing embedder). The direct path,
   in the same run: the same chunks' texts, embedded by the same hashing embedder in this
   process and written by the store's own client (psycopg with the plugin's SQL as the
   runtime role; pymilvus) in batches of ``KNOWLEDGE_EMBED_BATCH`` into another workspace.
2. queries: ``--queries`` distinct questions (no embedding cache hit), alternating
   ``GET /api/v1/search?q=…&kind=documents`` over a kept-alive HTTP connection with the
   direct path: the question embedded here and the store's client asked for the 50 nearest
   chunks of the workspace's generation filtered to documents, what the API's vector half
   asks. The API also runs full-text search, fuses, and reads the passages under RLS: the
   ratio is the whole product's cost over the bare vector search.

The machine is shared: compare the ratios within one run. Everything started is stopped and
its folders removed on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import psycopg
from harness import (
    REPO,
    gunicorn_command,
    percentile,
    product_environment,
    start_database,
    start_server,
)
from signups import sign_up

from codex32.plugins.defaults.hashing_embedder import HashingEmbedder
from codex32.testing.receivers import free_port

CANDIDATES = 50  # what the search service asks the store for
BATCH = 64  # KNOWLEDGE_EMBED_BATCH's default
VOCABULARY = """
account invoice refund parcel delivery warehouse courier tracking payment card billing
address password login session token privacy cookie consent browser search index vector
document passage heading chunk embedding model query answer citation workspace member role
admin invitation audit quota budget ledger price schedule cron webhook notifier email
slack bot version rollback sandbox worker queue retry backoff timeout failure recovery
database replica backup restore migration schema table column policy tenant isolation
filter partition cluster latency throughput benchmark recall precision ranking fusion
lexical semantic garden river mountain harbour island forest meadow village market bakery
theatre museum library station airport bridge tunnel castle cathedral festival concert
winter spring summer autumn morning evening weather storm rain snow sunshine
"""
WORDS = tuple(VOCABULARY.split())


def document_text(rng: random.Random, number: int) -> str:
    """A Markdown document of four sections of about 375 words each."""
    sections = []
    for section in range(4):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize()
                     + "." for _ in range(28)]
        sections.append(f"## Part {section + 1} of guide {number}\n\n" + " ".join(sentences))
    return f"# Guide {number}\n\n" + "\n\n".join(sections)


def question(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6)))


class Api:
    """The product's API over one kept-alive connection, as one signed-in admin."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            self.connection.request(method, path, body=data, headers=headers)
            answer = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # gunicorn closes a connection idle past its keep-alive: open another, once.
            self.connection.close()
            self.connection.request(method, path, body=data, headers=headers)
            answer = self.connection.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None


# --- the stores' own clients ---------------------------------------------------------------


class PgvectorClient:
    """psycopg as the runtime role, with the plugin's statements (and its binary vectors)."""

    INSERT = ("INSERT INTO vector_items (workspace_id, collection, dimension, item_id, embedding,"
              " metadata) VALUES (%s, %s, %s, %s, CAST(CAST(%s AS vector) AS real[]), %s::jsonb)"
              " ON CONFLICT (workspace_id, collection, dimension, item_id) DO UPDATE SET "
              "embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata")

    def __init__(self, database: Any) -> None:
        from codex32_pgvector import nearest_sql
        from pgvector.psycopg import register_vector

        self.connection = psycopg.connect(database.runtime_dsn)
        register_vector(self.connection)
        self.nearest_sql = nearest_sql

    def _bound(self, workspace: str) -> Any:
        cursor = self.connection.cursor()
        cursor.execute("SELECT set_config('app.workspace_id', %s, true)", (workspace,))
        return cursor

    def upsert(self, workspace: str, collection: str, items: list[tuple[str, list[float]]],
               metadata: dict[str, Any]) -> None:
        import numpy as np

        with self.connection.transaction(), self._bound(workspace) as cursor:
            cursor.executemany(self.INSERT, [
                (workspace, collection, len(vector), item_id,
                 np.asarray(vector, dtype=np.float32), json.dumps(metadata))
                for item_id, vector in items])

    def search(self, workspace: str, collection: str, vector: list[float],
               filters: dict[str, Any]) -> list[str]:
        import numpy as np

        sql = self.nearest_sql(len(vector), True)
        for name in ("workspace", "collection", "query", "top_k", "filters"):
            sql = sql.replace(f":{name}", f"%({name})s")
        with self.connection.transaction(), self._bound(workspace) as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = 100; "
                           "SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(sql, {"workspace": workspace, "collection": collection,
                                 "query": np.asarray(vector, dtype=np.float32),
                                 "top_k": CANDIDATES, "filters": json.dumps(filters)})
            return [row[0] for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()


class MilvusClientPath:
    """pymilvus on the collection the plugin made (``codex32_d{dimension}``)."""

    def __init__(self, uri: str) -> None:
        from pymilvus import MilvusClient

        self.client = MilvusClient(uri=uri, timeout=60)

    def upsert(self, workspace: str, collection: str, items: list[tuple[str, list[float]]],
               metadata: dict[str, Any]) -> None:
        self.client.upsert(f"codex32_d{len(items[0][1])}", [
            {"id": f"{workspace}:{collection}:{item_id}", "workspace_id": workspace,
             "collection": collection, "item_id": item_id, "vector": vector,
             "metadata": metadata} for item_id, vector in items])

    def search(self, workspace: str, collection: str, vector: list[float],
               filters: dict[str, Any]) -> list[str]:
        condition = " and ".join(f'metadata["{k}"] == "{v}"' for k, v in filters.items())
        hits = self.client.search(
            f"codex32_d{len(vector)}", [vector], limit=CANDIDATES, output_fields=["item_id"],
            filter=f'workspace_id == "{workspace}" and collection == "{collection}" and '
                   f"({condition})",
            search_params={"metric_type": "COSINE", "params": {"ef": 64}})
        return [hit["entity"]["item_id"] for hit in hits[0]]

    def close(self) -> None:
        self.client.close()


# --- the measurements ----------------------------------------------------------------------


def index_through_queue(api: Api, worker: subprocess.Popen, documents: int,
                        seed: int) -> tuple[str, float]:
    """Upload while the worker is frozen, release it, time until all are indexed: the
    collection id and the seconds."""
    rng = random.Random(seed)
    status, made = api.call("POST", "/api/v1/collections", {"name": f"bench-{seed}"})
    assert status == 201, made
    worker.send_signal(signal.SIGSTOP)
    try:
        for number in range(documents):
            status, body = api.call("POST", f"/api/v1/collections/{made['id']}/documents", {
                "title": f"Guide {number}", "text": document_text(rng, number),
                "media_type": "text/markdown"})
            assert status == 202, body
    finally:
        worker.send_signal(signal.SIGCONT)
    began = time.perf_counter()
    path = f"/api/v1/collections/{made['id']}/documents?status=indexed&page_size=1"
    deadline = began + 1800
    while True:
        status, page = api.call("GET", path)
        if page["total"] == documents:
            return made["id"], time.perf_counter() - began
        failed = api.call("GET", path.replace("indexed", "failed"))[1]["total"]
        if failed or time.perf_counter() > deadline:
            raise SystemExit(f"indexing stopped: {failed} failed, {page['total']} indexed")
        time.sleep(0.2)


def chunk_texts(database: Any, workspace: str) -> list[tuple[str, str]]:
    with psycopg.connect(database.admin_dsn) as connection:
        return [(str(row[0]), f"{row[1]}\n\n{row[2]}" if row[1] else row[2])
                for row in connection.execute(
                    "SELECT id, heading, text FROM knowledge_chunks WHERE workspace_id = %s "
                    "AND document_id IS NOT NULL ORDER BY id", (workspace,))]


def index_directly(client: Any, workspace: str, chunks: list[tuple[str, str]]) -> float:
    """Embed the chunks here and write them with the store's client; the seconds."""
    embedder = HashingEmbedder({})
    began = time.perf_counter()
    for start in range(0, len(chunks), BATCH):
        batch = chunks[start:start + BATCH]
        vectors = embedder.embed([text for _id, text in batch]).vectors
        client.upsert(workspace, "bench_direct", [
            (item_id, vector) for (item_id, _text), vector in zip(batch, vectors, strict=True)],
            {"kind": "document"})
    return time.perf_counter() - began


def queries(api: Api, client: Any, workspace: str, count: int) -> dict[str, list[float]]:
    """Milliseconds per query, API and direct alternating (which goes first alternates too)."""
    rng, embedder = random.Random(7), HashingEmbedder({})
    times: dict[str, list[float]] = {"api": [], "direct": []}

    def through_api(text: str) -> None:
        status, body = api.call("GET", "/api/v1/search?" + urllib.parse.urlencode(
            {"q": text, "kind": "documents", "limit": 10}))
        assert status == 200 and body["vector_search"], body

    def direct(text: str) -> None:
        vector = embedder.embed([text]).vectors[0]
        client.search(workspace, "knowledge_g1", vector, {"kind": "document"})

    through_api(question(rng))  # warm the worker's plugin instances
    for number in range(count):
        text = question(rng)
        paths = (("api", through_api), ("direct", direct))
        for name, call in paths if number % 2 == 0 else paths[::-1]:
            began = time.perf_counter()
            call(text)
            times[name].append((time.perf_counter() - began) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=120)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--stores", default="pgvector,milvus")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="codex32-knowledge-bench-"))
    stack = contextlib.ExitStack()
    try:
        return run(args, folder, stack)
    finally:
        stack.close()
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, folder: Path, stack: contextlib.ExitStack) -> int:
    from codex32_milvus.server import start_server as start_milvus
    from codex32_milvus.server import wait_until_ready

    database = start_database(folder / "pg")
    stack.callback(database.close)
    milvus_port = free_port()
    milvus = start_milvus(folder / "milvus", milvus_port)
    stack.callback(_stop, milvus)
    wait_until_ready(milvus_port, process=milvus, data_dir=folder / "milvus", timeout=60)
    milvus_uri = f"http://127.0.0.1:{milvus_port}"
    port = free_port()
    env = {**product_environment(database, port, folder), "WEB_CONCURRENCY": "2",
           "MILVUS_URI": milvus_uri, "LOG_LEVEL": "INFO"}
    server = start_server("product", gunicorn_command("wsgi:app"), env, port,
                          folder / "product.log", "/health/ready", stack)
    worker_log = stack.enter_context((folder / "worker.log").open("wb"))
    worker_port = free_port()
    worker = subprocess.Popen([sys.executable, "-m", "codex32.cli", "worker"], cwd=REPO,
                              env={**env, "CODEX32_WORKER_PORT": str(worker_port)},
                              stdout=worker_log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    stack.callback(_stop, worker)
    _wait_ready(worker, worker_port)
    direct_tenant = sign_up(server, "direct")
    clients = {"pgvector": lambda: PgvectorClient(database),
               "milvus": lambda: MilvusClientPath(milvus_uri)}
    print(f"{args.documents} documents per store, {args.queries} queries; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for store in args.stores.split(","):
        tenant = sign_up(server, store)
        api = Api(port, tenant.access_token)
        if store != "pgvector":
            status, body = api.call("PATCH", "/api/v1/workspace", {
                "settings": {"defaults": {"vector_store": store}}})
            assert status == 200, body
        # First use: plugin instances, the generation, the dimension's index or collection.
        index_through_queue(api, worker, 1, seed=0)
        before = len(chunk_texts(database, tenant.workspace_id))
        _, seconds = index_through_queue(api, worker, args.documents, seed=len(store))
        chunks = chunk_texts(database, tenant.workspace_id)
        queued = (len(chunks) - before) / seconds
        client = clients[store]()
        try:
            direct_seconds = index_directly(client, direct_tenant.workspace_id, chunks)
            times = queries(api, client, tenant.workspace_id, args.queries)
        finally:
            client.close()
        bare = len(chunks) / direct_seconds
        api_p50, api_p99 = percentile(times["api"], 50), percentile(times["api"], 99)
        raw_p50, raw_p99 = percentile(times["direct"], 50), percentile(times["direct"], 99)
        print(f"\n{store}: {len(chunks) - before} chunks of {args.documents} documents")
        print(f"  indexing  queue {queued:7.1f} chunks/s   client {bare:7.1f} chunks/s   "
              f"queue/client {queued / bare:.3f}")
        print(f"  query p50 API {api_p50:6.2f} ms   client {raw_p50:6.2f} ms   "
              f"API/client x{api_p50 / raw_p50:.2f}")
        print(f"  query p99 API {api_p99:6.2f} ms   client {raw_p99:6.2f} ms   "
              f"API/client x{api_p99 / raw_p99:.2f}")
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _wait_ready(process: subprocess.Popen, port: int, deadline: float = 90) -> None:
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if process.poll() is not None:
            raise SystemExit("the worker exited before it was ready")
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise SystemExit("the worker was not ready in time")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
