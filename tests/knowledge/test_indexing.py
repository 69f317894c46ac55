"""Indexing through the queue: a failed embedding is retried then recorded ``failed`` with the
reason (and metered), a document whose job vanished is settled by the maintenance pass, a
real worker process indexes an upload, and a change of embedder re-indexes in the background
while search keeps answering from the old index."""

from __future__ import annotations

import time

import pytest

from codex32 import runtime
from codex32.execution import knowledge
from codex32.testing.fake_openai import FakeOpenAI
from tests.knowledge.conftest import collection, document, search, upload_text, use_milvus


@pytest.fixture()
def fake_openai():
    with FakeOpenAI(api_key="sk-right") as server:
        yield server


def use_openai_embedder(tenant, server, key: str = "sk-right") -> None:
    put = tenant.call("PUT", "/api/v1/providers/embedder/openai", json={
        "config": {"base_url": server.url, "dimensions": 32, "encoding_format": "float"},
        "secrets": {"api_key": key}})
    assert put.status_code == 200, put.json
    chosen = tenant.call("PATCH", "/api/v1/workspace",
                         json={"settings": {"defaults": {"embedder": "openai"}}})
    assert chosen.status_code == 200, chosen.json


def test_a_failing_embedder_is_retried_then_the_document_fails_with_the_reason(
        tenant, kb, fake_openai, app, superuser):
    use_openai_embedder(tenant, fake_openai, key="sk-wrong")
    handbook = collection(tenant)
    uploaded = upload_text(tenant, handbook, "Notes", "Some notes to embed.").json
    outcomes = [o for task, o in kb.drain(tenant) if task == "codex32.index_document"]
    attempts = runtime.of(app).settings.knowledge_max_attempts
    assert len(outcomes) == attempts and all(o.startswith("retry") for o in outcomes[:-1])
    assert outcomes[-1].startswith("failed")
    found = document(tenant, handbook, uploaded["id"])
    assert found["status"] == "failed" and found["attempts"] == attempts
    assert "openai rejected the configured credentials" in found["error"]
    metered = superuser.execute(
        "SELECT count(*) FROM llm_usage WHERE workspace_id = %s AND purpose = 'search' "
        "AND kind = 'embedding' AND status = 'error'", (tenant.workspace_id,)).fetchone()[0]
    assert metered == attempts  # every attempt went through the gateway's ledger


def test_a_document_whose_job_vanished_is_settled_by_the_maintenance_pass(
        tenant, kb, superuser, app):
    handbook = collection(tenant)
    first = upload_text(tenant, handbook, "First", "Alpha text.").json
    second = upload_text(tenant, handbook, "Second", "Beta text.").json
    # A crash left both 'indexing' with their jobs gone; the second used its last attempt.
    superuser.execute("DELETE FROM procrastinate_jobs WHERE args->>'workspace_id' = %s",
                      (tenant.workspace_id,))
    superuser.execute(
        "UPDATE knowledge_documents SET status = 'indexing', updated_at = now() - interval "
        "'1 hour', attempts = CASE WHEN id = %s THEN 99 ELSE 1 END WHERE workspace_id = %s",
        (second["id"], tenant.workspace_id))
    with runtime.activated(runtime.of(app)):
        assert knowledge.settle_stale() >= 2
    assert document(tenant, handbook, second["id"])["status"] == "failed"
    assert "without finishing" in document(tenant, handbook, second["id"])["error"]
    assert [task for _, task, _ in kb.jobs(tenant)] == ["codex32.index_document"]
    kb.drain(tenant)
    assert document(tenant, handbook, first["id"])["status"] == "indexed"


def test_changing_the_embedder_reindexes_while_search_answers_from_the_old_index(
        tenant, kb, fake_openai):
    handbook = collection(tenant)
    upload_text(tenant, handbook, "Ops", "Restart the payment gateway after deploys.")
    kb.drain(tenant)
    before = search(tenant, "payment gatewey restarts")
    assert before["generation"] == 1 and before["vector_search"]
    old_hits = [h["chunk_id"] for h in before["items"]]

    use_openai_embedder(tenant, fake_openai)
    tasks = [task for _, task, _ in kb.jobs(tenant)]
    assert "codex32.reindex" in tasks
    during = search(tenant, "payment gatewey restarts")
    assert during["generation"] == 1 and during["vector_search"]  # the old index still answers
    assert [h["chunk_id"] for h in during["items"]] == old_hits

    kb.drain(tenant)
    after = search(tenant, "payment gateway")
    assert after["generation"] == 2 and after["vector_search"]
    assert fake_openai.requests_to("/v1/embeddings") or fake_openai.requests
    assert kb.vector_ids(tenant, 2) == {c["id"] for c in kb.chunks(tenant)}
    assert kb.vector_ids(tenant, 1) == set()  # the retired generation's vectors are dropped
    assert all(c["generation"] == 2 for c in kb.chunks(tenant))


def test_a_real_worker_indexes_an_upload(tenant, kb, database, tmp_path, milvus_uri):
    from tests.execution.conftest import WorkerStarter

    starter = WorkerStarter(database, tmp_path)
    try:
        starter(CODEX32_LOAD_PLUGINS="builtin,milvus", MILVUS_URI=milvus_uri,
                KNOWLEDGE_RETRY_SECONDS="0.1")
        use_milvus(tenant)  # the store the worker has (the platform default is pgvector)
        handbook = collection(tenant)
        uploaded = upload_text(tenant, handbook, "Queue", "Indexed by a real worker.").json
        deadline = time.monotonic() + 20
        while document(tenant, handbook, uploaded["id"])["status"] != "indexed":
            assert time.monotonic() < deadline, document(tenant, handbook, uploaded["id"])
            time.sleep(0.1)
        hit = search(tenant, "real worker")["items"][0]
        assert hit["document"]["id"] == uploaded["id"] and hit["scores"]["vector"] is not None
        # A bot in the sandbox searches through context.search, served by the worker.
        bot = tenant.create_bot(code="def main(event, context):\n    found = context.search("
                                "'real worker', kind='documents')\n    return [h['passage'] "
                                "for h in found['items']]\n")
        execution = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={}).json
        deadline = time.monotonic() + 30
        while (done := tenant.call("GET", f"/api/v1/executions/{execution['id']}").json
               )["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, done
            time.sleep(0.1)
        assert done["status"] == "succeeded", done
        assert done["result"] == ["Indexed by a real worker."]
    finally:
        starter.kill_all()


def test_the_retry_policy_stops_on_refusals_and_after_the_last_attempt(app):
    from types import SimpleNamespace

    from codex32.errors import BadGateway, Invalid, RateLimited
    from codex32.execution.queue import knowledge_retry

    with runtime.activated(runtime.of(app)):
        first = SimpleNamespace(attempts=0)
        assert knowledge_retry.get_retry_decision(exception=BadGateway("x"), job=first)
        assert knowledge_retry.get_retry_decision(exception=RateLimited("x", 1), job=first)
        assert knowledge_retry.get_retry_decision(exception=Invalid("x"), job=first) is None
        last = SimpleNamespace(attempts=runtime.of(app).settings.knowledge_max_attempts - 1)
        assert knowledge_retry.get_retry_decision(exception=BadGateway("x"), job=last) is None





def test_without_a_vector_store_indexing_settles_for_full_text_search(
        tenant, kb, app, monkeypatch):
    """No vector store plugin installed: a bot's and a document's jobs finish at once (before,
    each failed with "no vector_store plugin is installed"), the document is ``indexed`` with
    a note, and search answers from full-text search."""
    registry = runtime.of(app).plugins.registry
    monkeypatch.setitem(registry, "vector_store", {})
    bot = tenant.create_bot("tide-bot", description="Reports the tide tables")
    handbook = collection(tenant)
    uploaded = upload_text(tenant, handbook, "Tides", "Spring tides follow the full moon.").json
    assert {outcome for _task, outcome in kb.drain(tenant)} == {"ok"}
    indexed = document(tenant, handbook, uploaded["id"])
    assert indexed["status"] == "indexed" and indexed["generation"] is None
    assert "full-text" in indexed["error"] and indexed["chunk_count"] == 1
    found = search(tenant, "tide")
    assert not found["vector_search"] and found["note"]
    assert {h["bot"]["id"] for h in found["items"] if h["bot"]} == {bot["id"]}
    assert {h["document"]["id"] for h in found["items"] if h["document"]} == {uploaded["id"]}
    # Deleting needs no store either: nothing holds vectors.
    assert tenant.call("DELETE", f"/api/v1/collections/{handbook}").status_code == 204
    assert {outcome for _task, outcome in kb.drain(tenant)} <= {"ok"}


@pytest.mark.parametrize("store", ["pgvector", "milvus"])
def test_a_dropped_generation_takes_the_vectors_a_failed_forget_left(
        tenant, kb, fake_openai, monkeypatch, store, request, superuser):
    """A document deleted while its store refused deletes (the forget job used its attempts)
    keeps its vectors in the active generation; dropping that generation after a change of
    embedder deleted only the ids of chunks still there, so they stayed in the store forever."""
    from codex32.errors import BadGateway
    from codex32.execution import indexing

    if store == "milvus":
        request.getfixturevalue("milvus_uri")
        use_milvus(tenant)
    handbook = collection(tenant)
    upload_text(tenant, handbook, "Kept", "Payment gateway runbook.")
    doomed = upload_text(tenant, handbook, "Doomed", "Secret merger plans for next year.").json
    kb.drain(tenant)
    doomed_ids = {c["id"] for c in kb.chunks(tenant, document_id=doomed["id"])}
    assert doomed_ids and doomed_ids <= kb.vector_ids(tenant, 1)
    dimension = superuser.execute(  # probed after its row is gone
        "SELECT dimension FROM knowledge_indexes WHERE workspace_id = %s AND generation = 1",
        (tenant.workspace_id,)).fetchone()[0]

    def refused(*args, **kwargs):
        raise BadGateway("the vector store is down")

    monkeypatch.setattr(indexing.vectors, "delete", refused)
    deleted = tenant.call("DELETE", f"/api/v1/collections/{handbook}/documents/{doomed['id']}")
    assert deleted.status_code == 204, deleted.json
    assert kb.drain(tenant)[-1][1].startswith("failed")  # the forget job gave up
    monkeypatch.undo()
    assert doomed_ids <= kb.vector_ids(tenant, 1, store=store)

    use_openai_embedder(tenant, fake_openai)  # (its defaults leave the store's: pgvector)
    kb.drain(tenant)
    assert search(tenant, "payment")["generation"] == 2
    assert kb.vector_ids(tenant, 1, store=store, dimension=dimension) == set()
    assert kb.vector_ids(tenant, 2) == {c["id"] for c in kb.chunks(tenant)}


def test_an_unexpected_error_is_recorded_generically_and_logged_with_the_job(
        tenant, kb, monkeypatch, caplog):
    """A failure that is no domain error had its raw text (``TypeName: message``, which may
    name hosts, paths or settings) stored in the document's ``error``, shown to the tenant."""
    import logging

    from codex32.execution import indexing

    def broken(*args, **kwargs):
        raise RuntimeError("could not connect to 10.1.2.3:6379 with password=hunter2")

    handbook = collection(tenant)
    uploaded = upload_text(tenant, handbook, "Notes", "Some notes to embed.").json
    monkeypatch.setattr(indexing.gateway, "embed", broken)
    with caplog.at_level(logging.ERROR, logger="codex32.execution.indexing"):
        outcomes = kb.drain(tenant)
    found = document(tenant, handbook, uploaded["id"])
    assert found["status"] == "failed" and outcomes[-1][1].startswith("failed")
    assert "hunter2" not in found["error"] and "RuntimeError" not in found["error"]
    assert found["error"] == indexing.UNEXPECTED_ERROR
    logged = [r for r in caplog.records if r.exc_info and "hunter2" in str(r.exc_info[1])]
    assert logged and all(r.document_id == uploaded["id"] for r in logged)
    job_ids = {job_id for job_id, _, _ in kb.jobs(tenant, status="failed")}
    assert {r.job_id for r in logged} <= job_ids and logged[-1].job_id in job_ids


def test_a_chunk_the_new_embedder_cannot_embed_fails_its_document_and_the_rebuild_finishes(
        tenant, kb, fake_openai, app):
    """A passage the new embedder refuses every time failed its batch on every attempt of the
    rebuild, which then stayed ``building`` (restarted by the maintenance loop forever) while
    search kept reading the old generation."""
    handbook = collection(tenant)
    kept = upload_text(tenant, handbook, "Kept", "Restart the payment gateway after deploys.").json
    poison = upload_text(tenant, handbook, "Poison", "POISON passage the embedder refuses.").json
    other = upload_text(tenant, handbook, "Other", "Rotate the credentials every quarter.").json
    kb.drain(tenant)
    assert search(tenant, "payment gateway")["generation"] == 1

    answer = fake_openai.embeddings

    def refusing(body):
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if any("POISON" in text for text in inputs):
            return fake_openai.context_length_error()
        return answer(body)

    fake_openai.embeddings = refusing
    use_openai_embedder(tenant, fake_openai)
    rebuilds = [o for task, o in kb.drain(tenant) if task == "codex32.reindex"]
    assert len(rebuilds) <= runtime.of(app).settings.knowledge_max_attempts, rebuilds
    assert rebuilds[-1] == "ok", rebuilds
    failed = document(tenant, handbook, poison["id"])
    assert failed["status"] == "failed", failed
    assert failed["error"].startswith("the embedder openai could not embed passage 1"), failed
    for fine in (kept, other):
        assert document(tenant, handbook, fine["id"])["status"] == "indexed"
    after = search(tenant, "payment gateway")
    assert after["generation"] == 2 and after["vector_search"]
    embedded = {c["id"] for c in kb.chunks(tenant) if c["document_id"] != poison["id"]}
    assert kb.vector_ids(tenant, 2) == embedded
    with runtime.activated(runtime.of(app)):  # nothing left for the maintenance loop
        knowledge.settle_stale()
    assert kb.jobs(tenant) == []


def test_a_rebuild_whose_embedder_embeds_nothing_fails_no_document(tenant, kb, fake_openai):
    """When no chunk embeds (nor a probe text), the embedder is failing, not a passage: the
    build stays ``building`` for the maintenance loop, and every document stays indexed."""
    handbook = collection(tenant)
    uploaded = [upload_text(tenant, handbook, title, text).json for title, text in (
        ("Kept", "Restart the payment gateway after deploys."),
        ("Other", "Rotate the credentials every quarter."))]
    kb.drain(tenant)
    fake_openai.embeddings = lambda body: fake_openai.context_length_error()
    use_openai_embedder(tenant, fake_openai)
    rebuilds = [o for task, o in kb.drain(tenant) if task == "codex32.reindex"]
    assert rebuilds and rebuilds[-1].startswith("failed"), rebuilds
    assert all(document(tenant, handbook, d["id"])["status"] == "indexed" for d in uploaded)
    assert search(tenant, "payment gateway")["generation"] == 1  # the old index answers
