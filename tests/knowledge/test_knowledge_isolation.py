"""Isolation attacks on the knowledge base: another workspace's collections and documents are
404, crafted ``collection`` values and searches never reach workspace A's passages or bots,
the store itself answers B nothing of A, and erasing A's knowledge removes its vectors."""

from __future__ import annotations

import uuid

import pytest

from codex32 import runtime
from codex32.db import db, tenancy
from codex32.services.knowledge import vectors
from tests.conftest import sign_up
from tests.knowledge.conftest import collection, search, upload_text, use_milvus

SECRET = "Project nightingale merges with the competitor in March."


def test_b_never_sees_a_s_passages_bots_or_vectors(client, tenant, kb, app):
    a, b = tenant, sign_up(client)
    a_docs = collection(a, "secrets")
    a_doc = upload_text(a, a_docs, "Merger", SECRET).json
    a_bot = a.create_bot("nightingale-bot", description="Project nightingale merger helper")
    b_docs = collection(b, "secrets")  # the same name is fine in another workspace
    upload_text(b, b_docs, "Decoy", "Nightingales sing at night in gardens.")
    kb.drain(a, b)

    for kind in (None, "documents", "bots"):
        found = search(b, "project nightingale merger", **({"kind": kind} if kind else {}))
        assert found["vector_search"]
        ids = {h["document"]["id"] for h in found["items"] if h["document"]}
        bots = {h["bot"]["id"] for h in found["items"] if h["bot"]}
        assert a_doc["id"] not in ids and a_bot["id"] not in bots
        assert all("competitor" not in h["passage"] for h in found["items"])
    crafted = b.call("GET", "/api/v1/search", query_string={
        "q": "nightingale", "collection": a_docs})
    assert crafted.status_code == 404  # A's collection id is no collection of B's
    for value in ("' OR 1=1 --", f"{a_docs}' OR 'a'='a", "*"):
        assert b.call("GET", "/api/v1/search", query_string={
            "q": "nightingale", "collection": value}).status_code == 422

    # The store itself, asked for B with A's passage's own vector neighbourhood, answers
    # nothing of A: the workspace is part of every filter the store builds.
    a_chunks = {c["id"] for c in kb.chunks(a)}
    with app.app_context(), runtime.activated(runtime.of(app)):
        with tenancy.bound(db.session, b.workspace_id):
            store = vectors.store_of(db.session, b.workspace_id)
        db.session.remove()
        for filters in ({}, {"collection_id": a_docs}, {"kind": "bot"}):
            matches = store.search(b.workspace_id, "knowledge_g1", [1.0] * 256, top_k=100,
                                   filters=filters)
            assert not {m.id for m in matches} & a_chunks


def test_another_workspace_s_ids_are_404_everywhere(client, tenant):
    a, b = tenant, sign_up(client)
    a_docs = collection(a)
    a_doc = upload_text(a, a_docs, "Merger", SECRET).json
    base = f"/api/v1/collections/{a_docs}"
    for method, path, body in (
            ("GET", base, None), ("PATCH", base, {"name": "stolen"}), ("DELETE", base, None),
            ("GET", f"{base}/documents", None),
            ("POST", f"{base}/documents", {"title": "planted", "text": "planted"}),
            ("GET", f"{base}/documents/{a_doc['id']}", None),
            ("DELETE", f"{base}/documents/{a_doc['id']}", None),
            ("POST", f"{base}/ask", {"question": "What merges?"}),
            ("GET", f"/api/v1/collections/{uuid.uuid4()}", None)):
        response = b.call(method, path, json=body)
        assert response.status_code == 404, (method, path, response.json)
    # A's document under B's own collection id is no document of B's either.
    b_docs = collection(b)
    assert b.call("GET", f"/api/v1/collections/{b_docs}/documents/{a_doc['id']}"
                  ).status_code == 404
    assert a.call("GET", f"{base}/documents/{a_doc['id']}").json["title"] == "Merger"


@pytest.mark.parametrize("store", ["pgvector", "milvus"])
def test_erasing_a_workspace_s_knowledge_removes_its_vectors_only(client, tenant, kb, app,
                                                                   store, request):
    a, b = tenant, sign_up(client)
    if store == "milvus":
        request.getfixturevalue("milvus_uri")
        use_milvus(a)
        use_milvus(b)
    upload_text(a, collection(a), "Merger", SECRET)
    a.create_bot("a-bot", description="helps with mergers")
    upload_text(b, collection(b), "Decoy", "Nightingales sing at night.")
    kb.drain(a, b)
    assert kb.vector_ids(a) and kb.vector_ids(b)
    b_vectors, b_chunks = kb.vector_ids(b), kb.chunks(b)
    erased = a.call("DELETE", "/api/v1/workspace/knowledge")
    assert erased.status_code == 202, erased.json
    assert erased.json["chunks"] >= 2 and erased.json["documents"] == 1
    # An upload right after the erase, indexed before the erase job runs, keeps its vectors:
    # it goes to a new generation, and the job deletes only the erased ones.
    upload_text(a, collection(a, "after"), "Kept", "Written after the erase.")
    with runtime.activated(runtime.of(app)):
        for job_id, task, args in kb.jobs(a):
            if task == "codex32.index_document":
                assert kb._run(runtime.of(app), job_id, task, args) == "ok"
    kb.drain(a)
    kept = {c["id"] for c in kb.chunks(a)}
    assert len(kept) == 1 and kb.vector_ids(a) == kept
    found = search(a, "nightingale merger")["items"]
    assert {hit["passage"] for hit in found} <= {"Written after the erase."}
    assert kb.vector_ids(b) == b_vectors and kb.chunks(b) == b_chunks
    assert _any_vectors(app, a.workspace_id) == set()  # generation 1, erased
    logged = a.call("GET", "/api/v1/audit-logs", query_string={"action": "knowledge.erase"})
    assert [e["changes"] for e in logged.json["items"]] == [erased.json]


def test_only_an_admin_erases_the_workspace_s_knowledge(client, tenant, kb):
    upload_text(tenant, collection(tenant), "Kept", "Stays unless an admin erases it.")
    member = tenant.add_member("user")
    refused = client.delete("/api/v1/workspace/knowledge", headers=member["headers"])
    assert refused.status_code == 403
    assert kb.chunks(tenant) == [] and kb.jobs(tenant)  # nothing erased, the upload queued
    kb.drain(tenant)
    assert kb.chunks(tenant)


def test_a_running_bot_searches_only_its_own_workspace(client, tenant, kb, app):
    from codex32.execution import run_services
    from codex32.plugins.interfaces import ServiceError

    a, b = tenant, sign_up(client)
    a_docs = collection(a, "secrets")
    upload_text(a, a_docs, "Merger", SECRET)
    upload_text(b, collection(b), "Birds", "Nightingales sing at night in gardens.")
    b_bot = b.create_bot("b-searcher")
    kb.drain(a, b)
    rt = runtime.of(app)
    with runtime.activated(rt):
        services = run_services.for_run(rt.settings, rt.sessions, b.workspace_id, b_bot["id"],
                                        uuid.uuid4()).call
        found = services("search.query", {"q": "nightingale merger", "limit": 20}, 10)
        passages = [hit["passage"] for hit in found["items"]]
        assert any("Nightingales sing" in p for p in passages)
        assert not any("competitor" in p for p in passages)
        refused = [
            ({"q": "merger", "workspace_id": a.workspace_id}, "does not take"),
            ({"q": "merger", "collection": a_docs}, "collection not found"),
            ({"q": "merger", "collection": "' OR 1=1"}, "collection id"),
            ({"q": ""}, "q must be"), ({"q": "x", "limit": 10_000}, "limit must be"),
            ({"q": "a\x00b"}, "NUL")]
        for params, says in refused:
            try:
                services("search.query", params, 10)
            except ServiceError as exc:
                assert says in str(exc), (params, exc)
            else:
                raise AssertionError(f"{params} was answered")


def _any_vectors(app, workspace_id: str) -> set[str]:
    with app.app_context(), runtime.activated(runtime.of(app)):
        with tenancy.bound(db.session, workspace_id):
            store = vectors.store_of(db.session, workspace_id)
        db.session.remove()
        return {m.id for m in store.search(workspace_id, "knowledge_g1", [1.0] * 256,
                                           top_k=100)}


def test_a_citation_of_another_workspace_s_chunk_in_ask_is_rejected(client, tenant, kb):
    """B's language model (or a prompt injection) names a chunk id of A's: the answer never
    shows it; only passages retrieved for B can be cited."""
    import json

    from codex32.testing.fake_openai import FakeOpenAI

    a, b = tenant, sign_up(client)
    upload_text(a, collection(a), "Merger", SECRET)
    b_docs = collection(b)
    upload_text(b, b_docs, "Birds", "Nightingales sing at night in gardens.")
    kb.drain(a, b)
    a_chunk = kb.chunks(a)[0]["id"]

    def reply(body):
        own = body["messages"][-1]["content"].split('id="', 1)[1].split('"', 1)[0]
        return json.dumps({"answer": "Nightingales sing.", "citations": [a_chunk, own]})

    with FakeOpenAI(api_key="sk-b") as server:
        server.reply = reply
        assert b.call("PUT", "/api/v1/providers/llm/openai", json={
            "config": {"base_url": server.url, "model": "gpt-4o-mini"},
            "secrets": {"api_key": "sk-b"}}).status_code == 200
        b.call("PATCH", "/api/v1/workspace", json={"settings": {"defaults": {"llm": "openai"}}})
        answer = b.call("POST", f"/api/v1/collections/{b_docs}/ask",
                        json={"question": "Project nightingale merger?"}).json
    assert answer["mode"] == "generated", answer
    assert answer["rejected_citations"] == [a_chunk]
    assert [c["passage"] for c in answer["citations"]] == ["Nightingales sing at night in gardens."]
    assert "competitor" not in json.dumps(answer)


def test_a_running_bots_search_ends_within_its_calls_time(client, tenant, kb, app, monkeypatch):
    """A bot's search.query is bounded by the time the channel gives the call (the run's
    remaining time): its query's embedding is not left running, and paid, past the run's
    end, on a worker thread the run no longer counts."""
    import time

    from codex32.execution import run_services
    from codex32.plugins.defaults.hashing_embedder import HashingEmbedder

    upload_text(tenant, collection(tenant), "Birds", "Nightingales sing at night in gardens.")
    bot = tenant.create_bot("slow-searcher")
    kb.drain(tenant)
    embed = HashingEmbedder.embed

    def slow(self, texts):
        time.sleep(2)
        return embed(self, texts)

    monkeypatch.setattr(HashingEmbedder, "embed", slow)
    rt = runtime.of(app)
    with runtime.activated(rt):
        services = run_services.for_run(rt.settings, rt.sessions, tenant.workspace_id,
                                        bot["id"], uuid.uuid4()).call
        started = time.monotonic()
        found = services("search.query", {"q": "nightingales at night"}, 0.3)
        took = time.monotonic() - started
    assert took < 1.5, took
    assert not found["vector_search"] and "vector search failed" in found["note"], found
    assert any("Nightingales" in hit["passage"] for hit in found["items"])  # full-text
