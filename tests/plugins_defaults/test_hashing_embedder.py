"""HashingEmbedder: stable, normalized vectors in which similar texts lie closer."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from codex32.plugins.defaults.hashing_embedder import HashingEmbedder


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_have_the_configured_dimension_and_unit_length():
    embedder = HashingEmbedder({"dimension": 64})

    result = embedder.embed(["check a website every five minutes", "x"])

    assert embedder.dimension == 64
    assert [len(v) for v in result.vectors] == [64, 64]
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0) for v in result.vectors)
    assert result.model == "hashing-v1-64"
    assert result.usage.total_tokens == 0


def test_the_default_dimension_is_256():
    assert HashingEmbedder().dimension == 256
    assert HashingEmbedder.config_schema["properties"]["dimension"]["default"] == 256


@pytest.mark.parametrize("dimension", [8, 5000, "256", True])
def test_a_dimension_outside_16_to_4096_is_refused(dimension):
    with pytest.raises(ValueError):
        HashingEmbedder({"dimension": dimension})


def test_similar_texts_score_higher_than_unrelated_ones():
    anchor, similar, unrelated = HashingEmbedder().embed([
        "Check that the website is up every five minutes",
        "check the web site is up every 5 minutes",
        "Summarize quarterly sales grouped by region from a spreadsheet",
    ]).vectors

    assert cosine(anchor, similar) > 0.5
    assert cosine(anchor, similar) > cosine(anchor, unrelated) + 0.3


def test_shared_spellings_count_even_without_the_same_word():
    anchor, inflected, unrelated = HashingEmbedder().embed(
        ["monitoring servers", "monitor server", "baking bread"]).vectors

    assert cosine(anchor, inflected) > cosine(anchor, unrelated)


def test_empty_input_gives_no_vectors_and_empty_text_the_zero_vector():
    embedder = HashingEmbedder({"dimension": 16})

    assert embedder.embed([]).vectors == []
    assert embedder.embed(["  ...  "]).vectors == [[0.0] * 16]


def test_vectors_are_the_same_in_another_process_with_another_hash_seed():
    text = "Vectors must not depend on PYTHONHASHSEED"
    here = HashingEmbedder({"dimension": 32}).embed([text]).vectors[0]
    code = ("import json; from codex32.plugins.defaults.hashing_embedder import HashingEmbedder;"
            f"print(json.dumps(HashingEmbedder({{'dimension': 32}}).embed([{text!r}]).vectors[0]))")

    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout

    assert json.loads(there) == here
