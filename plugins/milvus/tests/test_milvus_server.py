"""The embedded server: concurrent starters start one server; the plugin's default finds it."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest
from codex32_milvus import MilvusVectorStore
from codex32_milvus.server import PID_FILE, ensure_local_server, is_listening, stop_server
from milvus_lite import MilvusLite

from codex32.plugins.api import VectorItem

# xdist (make test: --dist loadgroup) runs the Milvus tests on one worker, so the session's
# milvus-lite server (conftest.py) starts once per run.
pytestmark = pytest.mark.xdist_group("milvus")


def ensure_worker(data_dir: str, port: int, results) -> None:
    """A process that needs the embedded server, racing the others to start it."""
    try:
        results.put(ensure_local_server(data_dir, port))
    except BaseException as error:
        results.put(repr(error))


@pytest.fixture
def embedded(tmp_path: Path, closed_port: int):
    data_dir = tmp_path / "milvus"
    yield data_dir, closed_port
    stop_server(data_dir)


def test_concurrent_processes_start_exactly_one_server(embedded):
    data_dir, port = embedded
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=ensure_worker, args=(str(data_dir), port, results))
                 for _ in range(3)]
    for process in processes:
        process.start()
    uris = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=10)

    assert uris == [f"http://127.0.0.1:{port}"] * 3
    log = (data_dir / "codex32-server.log").read_text()
    assert log.count("listening on") == 1
    assert "Open local milvus failed" not in log and "Locked" not in log

    assert stop_server(data_dir)
    assert not is_listening(port)
    assert not (data_dir / PID_FILE).exists()


def test_the_store_without_a_uri_uses_the_embedded_server(embedded, monkeypatch):
    data_dir, port = embedded
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.setenv("CODEX32_DATA_DIR", str(data_dir.parent))
    monkeypatch.setenv("CODEX32_MILVUS_PORT", str(port))
    store = MilvusVectorStore()
    workspace = str(uuid.uuid4())

    store.upsert(workspace, "docs", [VectorItem("1", [1.0, 0.0])])

    assert store.uri == f"http://127.0.0.1:{port}"
    assert [h.id for h in store.search(workspace, "docs", [1.0, 0.0])] == ["1"]
    assert store.health_check().ok
    store.close()


def test_milvus_uri_from_the_environment_wins_over_the_embedded_server(monkeypatch,
                                                                       milvus_server):
    monkeypatch.setenv("MILVUS_URI", milvus_server.uri)
    store = MilvusVectorStore()

    assert store.uri == milvus_server.uri
    assert store.health_check().ok
    store.close()


def test_a_data_folder_served_on_another_port_is_a_clear_error(closed_port, milvus_server):
    with pytest.raises(RuntimeError, match="already served by pid"):
        ensure_local_server(milvus_server.data_dir, closed_port, timeout=5)


def test_a_server_that_cannot_open_its_data_folder_is_a_clear_error(embedded):
    data_dir, port = embedded
    holder = MilvusLite(str(data_dir))  # this process now owns the folder, as a stray one would
    try:
        with pytest.raises(RuntimeError, match="exited"):
            ensure_local_server(data_dir, port, timeout=20)
    finally:
        holder.close()
