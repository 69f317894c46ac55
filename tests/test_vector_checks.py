"""The plugin API's vector store checks: what every store refuses before its backend sees it."""

from __future__ import annotations

import math

import pytest

from codex32.plugins.api import (
    checked_collection,
    checked_item_id,
    checked_vector,
    checked_workspace,
)

WORKSPACE = "6f1c0d1e-8d7a-4f7e-9a53-2b1b1c3f4e5d"


def test_a_vector_comes_back_as_floats():
    assert checked_vector([1, 0.5, -2], 3) == [1.0, 0.5, -2.0]
    assert checked_vector((0.0, 1.0), 8, nonzero=True) == [0.0, 1.0]


@pytest.mark.parametrize(("values", "says"), [
    ([], "1 to 4"), ([0.1] * 5, "1 to 4"), ([1.0, "2"], "numbers only"),
    ([True, 1.0], "numbers only"), ([1.0, None], "numbers only"), (5, "sequences"),
    ([math.nan], "finite"), ([math.inf], "finite"), ([1e39], "float32"),
])
def test_a_vector_that_is_no_vector_is_refused(values, says):
    with pytest.raises(ValueError, match=says):
        checked_vector(values, 4)


def test_a_zero_vector_is_refused_where_cosine_needs_a_direction():
    assert checked_vector([0.0, 0.0], 2) == [0.0, 0.0]
    with pytest.raises(ValueError, match="direction"):
        checked_vector([0.0, 0.0], 2, nonzero=True)


def test_item_ids_are_bounded_in_bytes_and_free_of_nul():
    assert checked_item_id("chunk-1") == "chunk-1"
    assert checked_item_id("é" * 128) == "é" * 128  # 256 bytes
    for bad in ("", None, 7, "é" * 129, "a\x00b"):
        with pytest.raises(ValueError):
            checked_item_id(bad)


def test_workspaces_are_uuids_and_collections_plain_names():
    assert checked_workspace(WORKSPACE.upper()) == WORKSPACE
    assert checked_collection("knowledge_g1") == "knowledge_g1"
    for bad in ("ws", "' OR 1=1", ""):
        with pytest.raises(ValueError, match="UUID"):
            checked_workspace(bad)
    for bad in ("", "a-b", "x" * 65, "a b", None):
        with pytest.raises(ValueError, match="collection names"):
            checked_collection(bad)
