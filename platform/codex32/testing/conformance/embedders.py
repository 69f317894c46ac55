"""The suite of embedders."""

from __future__ import annotations

from typing import Any, ClassVar

from codex32.plugins.interfaces import (
    EmbeddingResult,
)
from codex32.testing.conformance.routed import RoutedConformance


class EmbedderConformance(RoutedConformance):
    """An :class:`Embedder`: one vector of ``dimension`` floats per text, in order."""

    kind = "embedder"
    methods = ("embed", "dimension")
    texts: ClassVar[tuple[str, ...]] = ("The quick brown fox", "jumps over the lazy dog",
                                        "conformance")

    def exercise(self, plugin: Any) -> EmbeddingResult:
        return plugin.embed(list(self.texts))

    def test_embed_returns_one_vector_of_dimension_floats_per_text(self):
        """``embed(texts)`` returns ``len(texts)`` vectors, each of ``dimension`` floats, and
        names the model; ``dimension`` is a positive int."""
        embedder = self.build()
        dimension = embedder.dimension
        assert isinstance(dimension, int) and dimension > 0
        result = self.exercise(embedder)
        assert isinstance(result, EmbeddingResult)
        assert len(result.vectors) == len(self.texts)
        for vector in result.vectors:
            assert len(vector) == dimension
            assert all(isinstance(value, float) for value in vector), "vectors hold floats"
        assert isinstance(result.model, str) and result.model

    def test_embedding_no_texts_returns_no_vectors(self):
        """``embed([])`` returns no vectors (and no error)."""
        assert self.build().embed([]).vectors == []
