"""MiniLMEmbedder: the kit's embedder suite, and vectors that carry meaning, not words."""

from __future__ import annotations

import math

from codex32_minilm import MiniLMEmbedder

from codex32.plugins.defaults.hashing_embedder import HashingEmbedder
from codex32.testing import EmbedderConformance


class TestMiniLMEmbedder(EmbedderConformance):
    plugin_class = MiniLMEmbedder
    entry_point = "minilm"
    plugin_config = {"batch_size": 8}


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_a_paraphrase_is_nearer_than_a_text_sharing_its_words():
    """The question shares no word with its answer and several with the decoy: the model
    ranks the answer first, the hashing embedder the decoy."""
    question = "How do I get my money back?"
    answer = "Refunds are paid to the original card within five working days."
    decoy = "My back garden needs money to get the fence fixed."
    for embedder, answer_wins in ((MiniLMEmbedder({}), True), (HashingEmbedder({}), False)):
        q, a, d = embedder.embed([question, answer, decoy]).vectors
        assert (_cosine(q, a) > _cosine(q, d)) is answer_wins, embedder.id


def test_vectors_are_unit_length_deterministic_and_counted():
    result = MiniLMEmbedder({"threads": 1}).embed(["the same text", "the same text"])
    first, second = result.vectors
    assert len(first) == 384 and math.isclose(_cosine(first, first), 1.0, rel_tol=1e-5)
    assert first == second and result.usage.input_tokens == 10
    assert result.model == "all-MiniLM-L6-v2"
