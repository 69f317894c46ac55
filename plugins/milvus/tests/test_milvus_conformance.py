"""MilvusVectorStore passes the kit's vector store suite on the session's milvus-lite server."""

from __future__ import annotations

import codex32_milvus
import pytest
from codex32_milvus import MilvusVectorStore

from codex32.plugins.api import ProviderError, ProviderTimeout
from codex32.testing import ErrorCase, VectorStoreConformance

# xdist (make test: --dist loadgroup) runs the Milvus tests on one worker, so the session's
# milvus-lite server (conftest.py) starts once per run.
pytestmark = pytest.mark.xdist_group("milvus")


class TestMilvusVectorStore(VectorStoreConformance):
    plugin_class = MilvusVectorStore
    entry_point = "milvus"
    plugin_secrets = {"token": "root:Milvus-c0dex32-LEAKCHECK-3d9e"}

    @pytest.fixture(autouse=True)
    def backend(self, milvus_server, closed_port: int, silent_port: int) -> None:
        self.plugin_config = {"uri": milvus_server.uri, "collection_prefix": "kit",
                              "timeout_seconds": 10}
        self.closed_port, self.silent_port = closed_port, silent_port

    def invalid_configs(self) -> list[dict]:
        return [*super().invalid_configs(), {"uri": "milvus.example.com:19530"},
                {"collection_prefix": "no-dashes"}]

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("nothing listening", ProviderError,
                      config={"uri": f"http://127.0.0.1:{self.closed_port}"}),
            # gRPC reports a handshake that never completes as a failed connection, after
            # the timeout: the plugin answers it as the timeout it is.
            ErrorCase("a server that never answers", ProviderTimeout, within=3,
                      config={"uri": f"http://127.0.0.1:{self.silent_port}",
                              "timeout_seconds": 0.5}),
        ]

    def timeout_case(self) -> None:
        """milvus-lite cannot be slowed mid-request; an unresponsive server is an error case."""
        return None


def test_register_vector_stores_offers_the_store():
    offered: list[type] = []

    codex32_milvus.register_vector_stores(register=offered.append)

    assert offered == [MilvusVectorStore]
