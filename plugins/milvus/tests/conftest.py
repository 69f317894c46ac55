"""Fixtures for the Milvus plugin tests: one real milvus-lite server per session, on a free port."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from codex32_milvus import MilvusVectorStore
from codex32_milvus.server import start_server, wait_until_ready

from codex32.testing.receivers import free_port


class RunningServer:
    """A milvus-lite server process the tests own and may restart."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.uri = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_server(self.data_dir, self.port)
        wait_until_ready(self.port, process=self.process, data_dir=self.data_dir)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path_factory.mktemp("milvus") / "data", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_store(milvus_server: RunningServer) -> Iterator:
    """Build stores against the session server; each test gets its own collection prefix."""
    stores: list[MilvusVectorStore] = []
    prefix = f"t{uuid.uuid4().hex[:12]}"

    def make(**config) -> MilvusVectorStore:
        store = MilvusVectorStore({"uri": milvus_server.uri, "collection_prefix": prefix,
                                   **config})
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store) -> MilvusVectorStore:
    return make_store()
