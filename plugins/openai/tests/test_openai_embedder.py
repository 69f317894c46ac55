"""OpenAIEmbedder through the real openai SDK against the fake OpenAI server."""

from __future__ import annotations

import base64
import struct

import jsonschema
import pytest
from codex32_openai import OpenAIEmbedder
from codex32_openai.embedder import decode_vector

from codex32.plugins.api import Embedder, ProviderAuthError, ProviderError, ProviderRateLimited
from codex32.testing.fake_openai import approx_tokens, encode_base64_floats, fake_embedding

EMBEDDINGS = "/v1/embeddings"


@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_vectors_decode_to_the_servers_values_in_either_wire_format(make_embedder, server,
                                                                   encoding):
    result = make_embedder(encoding_format=encoding).embed(["alpha", "beta"])

    assert result.vectors == [fake_embedding("alpha", 8), fake_embedding("beta", 8)]
    assert all(len(vector) == 8 for vector in result.vectors)
    sent = server.requests_to(EMBEDDINGS)[-1].json
    assert sent["encoding_format"] == encoding
    assert sent["dimensions"] == 8
    assert sent["model"] == "text-embedding-3-small"


def test_base64_is_the_default_wire_format(make_embedder, server):
    make_embedder().embed(["alpha"])

    assert server.requests_to(EMBEDDINGS)[-1].json["encoding_format"] == "base64"


def test_usage_and_model_come_from_the_answer(make_embedder):
    result = make_embedder().embed(["a fairly long sentence to embed"])

    assert result.model == "text-embedding-3-small"
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens == 0


def test_dimension_is_the_configured_one(make_embedder):
    assert make_embedder(dimensions=256).dimension == 256


def test_large_batches_are_split_and_keep_their_order(make_embedder, server):
    texts = [f"text {i}" for i in range(5)]

    result = make_embedder(batch_size=2).embed(texts)

    assert result.vectors == [fake_embedding(text, 8) for text in texts]
    assert [len(r.json["input"]) for r in server.requests_to(EMBEDDINGS)] == [2, 2, 1]
    assert result.usage.input_tokens == sum(approx_tokens(text) for text in texts)


def test_answers_out_of_index_order_are_put_back_in_order(make_embedder, server):
    first, second = fake_embedding("first", 8), fake_embedding("second", 8)
    server.enqueue(json={"object": "list", "model": "text-embedding-3-small",
                         "data": [{"object": "embedding", "index": 1, "embedding": second},
                                  {"object": "embedding", "index": 0, "embedding": first}],
                         "usage": {"prompt_tokens": 2, "total_tokens": 2}})

    result = make_embedder(encoding_format="float").embed(["first", "second"])

    assert result.vectors == [first, second]


def test_no_texts_means_no_request(make_embedder, server):
    result = make_embedder().embed([])

    assert result.vectors == []
    assert server.requests_to(EMBEDDINGS) == []


def test_empty_text_is_sent_as_a_space_the_api_accepts(make_embedder, server):
    result = make_embedder().embed(["", "x"])

    assert len(result.vectors) == 2
    assert server.requests_to(EMBEDDINGS)[-1].json["input"] == [" ", "x"]


def test_models_that_refuse_dimensions_are_not_sent_it(make_embedder, server):
    result = make_embedder(model="text-embedding-ada-002", dimensions=1536,
                           send_dimensions=False).embed(["x"])

    assert "dimensions" not in server.requests_to(EMBEDDINGS)[-1].json
    assert len(result.vectors[0]) == 1536


def test_vectors_of_another_length_than_configured_are_refused(make_embedder):
    embedder = make_embedder(model="text-embedding-3-large", dimensions=8,
                             send_dimensions=False)

    with pytest.raises(ProviderError, match="3072-dimensional"):
        embedder.embed(["x"])


def test_fewer_vectors_than_texts_is_a_provider_error(make_embedder, server):
    server.enqueue(json={"object": "list", "model": "m", "data": [],
                         "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    with pytest.raises(ProviderError, match="0 embeddings for 1 texts"):
        make_embedder().embed(["x"])


@pytest.mark.parametrize(("status", "expected"), [
    (401, ProviderAuthError), (429, ProviderRateLimited), (500, ProviderError)])
def test_errors_map_like_the_providers(make_embedder, server, status, expected):
    server.enqueue_error(status, retry_after=3 if status == 429 else None)

    with pytest.raises(ProviderError) as caught:
        make_embedder().embed(["x"])

    assert type(caught.value) is expected
    if status == 429:
        assert caught.value.retry_after == 3.0


def test_repr_and_errors_hide_the_key(make_embedder, server, api_key):
    embedder = make_embedder()
    server.enqueue_error(400, message=f"key {api_key} is odd")

    with pytest.raises(ProviderError) as caught:
        embedder.embed(["x"])

    assert api_key not in str(caught.value)
    assert api_key not in repr(embedder)


def test_health_check_finds_the_embedding_model(make_embedder):
    assert make_embedder().health_check().ok
    assert not make_embedder(model="not-served").health_check().ok


def test_decode_vector_reads_little_endian_float32():
    values = [0.5, -1.25, 3.0]

    assert decode_vector(encode_base64_floats(values)) == values
    # Independent of the kit's encoder: the bytes OpenAI sends, little-endian float32.
    assert decode_vector(base64.b64encode(struct.pack("<3f", *values)).decode()) == values
    assert decode_vector([1, 2]) == [1.0, 2.0]


@pytest.mark.parametrize("bad", ["not base64!", "AAAAAAA="])
def test_decode_vector_refuses_garbage(bad):
    with pytest.raises(ProviderError):
        decode_vector(bad)


def test_class_declares_what_the_core_needs():
    assert issubclass(OpenAIEmbedder, Embedder)
    assert (OpenAIEmbedder.id, OpenAIEmbedder.kind) == ("openai", "embedder")
    assert OpenAIEmbedder.secrets == ("api_key",)
    jsonschema.Draft202012Validator.check_schema(OpenAIEmbedder.config_schema)
    jsonschema.validate(OpenAIEmbedder({}, {}).config, OpenAIEmbedder.config_schema)
