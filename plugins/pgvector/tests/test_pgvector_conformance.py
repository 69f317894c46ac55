"""PgVectorStore passes the kit's vector store suite on the core's embedded PostgreSQL."""

from __future__ import annotations

import codex32_pgvector
import pytest
from codex32_pgvector import PgVectorStore

from codex32.testing import VectorStoreConformance


class TestPgVectorStore(VectorStoreConformance):
    plugin_class = PgVectorStore
    entry_point = "pgvector"

    @pytest.fixture(autouse=True)
    def backend(self, pg_runtime) -> None:
        self.plugin_config = {}

    def invalid_configs(self) -> list[dict]:
        return [*super().invalid_configs(), {"ef_search": 5}, {"iterative_scan": "sometimes"}]


def test_register_vector_stores_offers_the_store():
    offered: list[type] = []

    codex32_pgvector.register_vector_stores(register=offered.append)

    assert offered == [PgVectorStore]
