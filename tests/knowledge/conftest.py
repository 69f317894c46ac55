"""Fixtures for the knowledge tests: the vector stores, a drain that runs the queued knowledge
jobs through their real bodies, and document factories.

The store is the workspace's configured one: the platform default, pgvector in the test
database, or milvus for a workspace :func:`use_milvus` switched (a real milvus-lite server for
the session, reached through ``MILVUS_URI``); embeddings come from the built-in hashing
embedder through the gateway. :func:`drain` takes the knowledge jobs of the given workspaces from
procrastinate's table in order and runs each body with the app's runtime and a job context
carrying its attempt count, as a worker would: success deletes the job, a failure is retried
at once while :class:`~codex32.execution.queue.KnowledgeRetry` allows it (its backoff is not
waited out), then the job is marked failed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from codex32_milvus.server import start_server, wait_until_ready

from codex32 import runtime
from codex32.execution import queue
from codex32.execution.knowledge import BODIES
from codex32.testing.receivers import free_port
from tests.conftest import Tenant


@contextlib.contextmanager
def milvus_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """A milvus-lite server of its own on a free port of 127.0.0.1, stopped after: its URI."""
    data, port = tmp_path_factory.mktemp(name) / "data", free_port()
    process = start_server(data, port)
    wait_until_ready(port, process=process, data_dir=data)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A milvus-lite server for the session, started in each xdist worker whose tests ask
    for it (a ``pytestmark`` in a conftest marks nothing); the default store finds it by
    MILVUS_URI."""
    with milvus_server(tmp_path_factory, "knowledge-milvus") as uri:
        before = os.environ.get("MILVUS_URI")
        os.environ["MILVUS_URI"] = uri
        try:
            yield uri
        finally:
            if before is None:
                os.environ.pop("MILVUS_URI", None)
            else:
                os.environ["MILVUS_URI"] = before


@pytest.fixture()
def kb(app, database) -> KnowledgeBase:
    return KnowledgeBase(app, database)


def use_milvus(tenant: Tenant) -> None:
    """Make milvus the workspace's vector store (the session's server: ``milvus_uri``)."""
    response = tenant.call("PATCH", "/api/v1/workspace",
                           json={"settings": {"defaults": {"vector_store": "milvus"}}})
    assert response.status_code == 200, response.json


class KnowledgeBase:
    """Runs knowledge jobs and reads what the API does not show (chunks, vectors)."""

    def __init__(self, app: Any, database: Any) -> None:
        self.app = app
        self.dsn = database.superuser_dsn

    def jobs(self, *tenants: Tenant, status: str = "todo") -> list[tuple[int, str, dict]]:
        ids = [t.workspace_id for t in tenants]
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            return connection.execute(
                "SELECT id, task_name, args FROM procrastinate_jobs WHERE queue_name = %s "
                "AND status = %s AND args->>'workspace_id' = ANY(%s) ORDER BY id",
                (queue.KNOWLEDGE_QUEUE, status, ids)).fetchall()

    def drain(self, *tenants: Tenant, limit: int = 200) -> list[tuple[str, str]]:
        """Run the tenants' queued knowledge jobs until none is left; returns (task, outcome)
        per attempt."""
        done: list[tuple[str, str]] = []
        rt = runtime.of(self.app)
        with runtime.activated(rt):
            for _ in range(limit):
                found = self.jobs(*tenants)
                if not found:
                    return done
                job_id, task, args = found[0]
                done.append((task, self._run(rt, job_id, task, args)))
        raise AssertionError(f"knowledge jobs still queued after {limit}: {done[-5:]}")

    def _run(self, rt: Any, job_id: int, task: str, args: dict) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            attempts = connection.execute(
                "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s RETURNING attempts",
                (job_id,)).fetchone()[0]
        job = SimpleNamespace(id=job_id, attempts=attempts, task_name=task)
        context = SimpleNamespace(job=job, additional_context={"runtime": rt})
        try:
            BODIES[task](context, **args)
        except Exception as exc:
            retry = queue.knowledge_retry.get_retry_decision(exception=exc, job=job)
            with psycopg.connect(self.dsn, autocommit=True) as connection:
                connection.execute(
                    "UPDATE procrastinate_jobs SET status = %s, attempts = attempts + 1 "
                    "WHERE id = %s", ("todo" if retry else "failed", job_id))
            return f"retry: {exc}" if retry else f"failed: {exc}"
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (job_id,))
        return "ok"

    def chunks(self, tenant: Tenant, **where: Any) -> list[dict[str, Any]]:
        clause = "".join(f" AND {column} = %({column})s" for column in where)
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.row_factory = psycopg.rows.dict_row
            return connection.execute(
                "SELECT id::text, document_id::text, bot_id::text, bot_version, ordinal, "
                "heading, text, tokens, location, generation FROM knowledge_chunks "
                f"WHERE workspace_id = %(w)s{clause} ORDER BY document_id, bot_id, ordinal",
                {"w": tenant.workspace_id, **where}).fetchall()

    def vector_ids(self, tenant: Tenant, generation: int | None = None, *,
                   store: str | None = None, config: dict[str, Any] | None = None,
                   dimension: int | None = None) -> set[str]:
        """The chunk ids a store holds for the workspace (in one generation, or in any), found
        by an exhaustive search of each generation's collection (a dropped generation's too,
        probed at ``dimension`` or the workspace's). The store is the workspace's current one, or
        plugin ``store`` built with ``config`` (its defaults when None)."""
        from codex32.db import db, tenancy
        from codex32.plugins.interfaces import VectorStore, with_defaults
        from codex32.services.knowledge import vectors

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            generations = connection.execute(
                "SELECT generation, dimension FROM knowledge_indexes WHERE workspace_id = %s "
                "AND dimension IS NOT NULL", (tenant.workspace_id,)).fetchall()
        found: set[str] = set()
        with self.app.app_context():
            if store is None:
                with tenancy.bound(db.session, tenant.workspace_id):
                    chosen = vectors.store_of(db.session, tenant.workspace_id)
                db.session.remove()
            else:
                cls = runtime.of(self.app).plugins.get(VectorStore.kind, store).cls
                chosen = cls(with_defaults(cls.config_schema, config or {}), {})
            dimensions = dict(generations)
            if generation is not None:  # a dropped generation's row is gone: probe it anyway
                any_dimension = dimension or next(iter(dimensions.values()), None)
                dimensions = {generation: dimensions.get(generation, any_dimension)}
            for number, dimension in dimensions.items():
                if dimension is None:
                    continue
                probe = [1.0] + [0.0] * (dimension - 1)
                found |= {m.id for m in chosen.search(tenant.workspace_id,
                                                      f"knowledge_g{number}", probe, top_k=1000)}
        return found


def upload_text(tenant: Tenant, collection_id: str, title: str, text: str,
                media_type: str = "text/markdown", **extra: Any):
    return tenant.call("POST", f"/api/v1/collections/{collection_id}/documents",
                       json={"title": title, "text": text, "media_type": media_type, **extra})


def upload_file(tenant: Tenant, collection_id: str, name: str, content: bytes,
                content_type: str | None = None, **form: str):
    from io import BytesIO

    data: dict[str, Any] = {**form, "file": (BytesIO(content), name, content_type)}
    return tenant.call("POST", f"/api/v1/collections/{collection_id}/documents", data=data,
                       content_type="multipart/form-data")


def collection(tenant: Tenant, name: str = "handbook") -> str:
    response = tenant.call("POST", "/api/v1/collections", json={"name": name})
    assert response.status_code == 201, response.json
    return response.json["id"]


def document(tenant: Tenant, collection_id: str, document_id: str) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/collections/{collection_id}/documents/{document_id}")
    assert response.status_code == 200, response.json
    return response.json


def search(tenant: Tenant, q: str, **args: Any) -> dict[str, Any]:
    response = tenant.call("GET", "/api/v1/search", query_string={"q": q, **args})
    assert response.status_code == 200, response.json
    return response.json


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small valid PDF whose pages hold these lines of text (Helvetica)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        body = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td {body} ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
                       f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode())
    return out

