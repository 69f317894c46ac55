"""``POST /api/v1/llm/chat`` (JSON and Server-Sent Events), rate limits with x-ratelimit-*
headers, and ``GET /api/v1/llm/deployments``."""

from __future__ import annotations

import json
import time

import httpx
import psycopg
import pytest

from codex32.runtime import KEY
from tests.conftest import serving
from tests.gateway.conftest import configure, events

BODY = {"messages": [{"role": "user", "content": "hello gateway"}], "model": "fast"}


def test_chat_answers_with_provider_model_usage_cost_and_attempts(chained, servers):
    servers[0].enqueue_failure("server")
    response = chained.call("POST", "/api/v1/llm/chat", json=BODY)
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["provider"], body["model"], body["text"]) == (
        "openai", "gpt-4o-mini", "echo: hello gateway")
    assert body["attempts"][0]["error"] == "server" and body["usage"]["input_tokens"] > 0
    assert body["cost_usd"] and body["usage_id"]


def test_chat_streams_server_sent_events_ending_with_usage(chained, servers):
    response = chained.call("POST", "/api/v1/llm/chat", json={**BODY, "stream": True})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    found = events(response.get_data())
    texts = [data["text"] for name, data in found if name == "chunk"]
    assert len(texts) > 1 and "".join(texts) == "echo: hello gateway"
    name, done = found[-1]
    assert name == "done" and done["usage"]["output_tokens"] > 0 and done["cost_usd"]
    usage = chained.call("GET", "/api/v1/usage").json["groups"][0]
    assert usage["requests"] == 1 and usage["output_tokens"] == done["usage"]["output_tokens"]


def test_a_client_that_stops_reading_stops_upstream_and_tokens_are_recorded(chained, servers):
    servers[0].stream_interval = 0.2
    response = chained.call("POST", "/api/v1/llm/chat", json={
        **BODY, "stream": True,
        "messages": [{"role": "user", "content": " ".join(["word"] * 60)}]},
        buffered=False)
    pieces = iter(response.response)
    first = next(pieces)
    assert b"chunk" in first
    response.close()  # what the server does when the client disconnects
    usage = chained.call("GET", "/api/v1/usage").json["groups"][0]
    assert usage["requests"] == 1 and usage["failed_requests"] == 1  # status cancelled
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_bad_input_is_422_and_unknown_alias_target_names_it(chained):
    assert chained.call("POST", "/api/v1/llm/chat", json={"messages": []}).status_code == 422
    assert chained.call("POST", "/api/v1/llm/chat", json={
        **BODY, "temperature": 9}).status_code == 422
    bad = chained.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "aliases": {"x": ["has space/model"]}}}})
    assert bad.status_code == 422


@pytest.mark.parametrize(("field", "value"), [
    ("stream", "yes"), ("stream", 1), ("json_mode", "false"), ("cache", 0),
    ("max_tokens", 1.5), ("max_tokens", "16"), ("max_tokens", True),
    ("temperature", "0.5"), ("temperature", True), ("timeout", "60"),
    ("response_schema", {"name": "a", "schema": {}, "strict": "yes"})])
def test_a_value_of_the_wrong_json_type_is_422_not_coerced(chained, servers, field, value):
    response = chained.call("POST", "/api/v1/llm/chat", json={**BODY, field: value})
    assert response.status_code == 422, (field, value, response.json)
    assert field in response.json["errors"]["json"], response.json
    assert not [r for r in servers[0].requests if "chat" in r.path]  # nothing was sent


def test_values_of_the_right_json_type_pass(chained):
    response = chained.call("POST", "/api/v1/llm/chat", json={
        **BODY, "stream": False, "json_mode": False, "cache": None, "max_tokens": 16.0,
        "temperature": 0, "timeout": 30})
    assert response.status_code == 200, response.json


def test_rate_limits_answer_429_with_openai_headers(app, tenant, servers, monkeypatch):
    # The three requests fall in one window whatever the time: the limiter's clock stands
    # still in the middle of a minute (a real one crossed a minute's end about once in 60 runs).
    frozen = time.time() // 60 * 60 + 30
    monkeypatch.setattr(app.extensions[KEY].limiter, "clock", lambda: frozen)
    configure(tenant, servers, llm={"rate_limits": {"requests_per_minute": 2}})
    first = tenant.call("POST", "/api/v1/llm/chat", json=BODY | {"model": None})
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    tenant.call("POST", "/api/v1/llm/chat", json=BODY | {"model": None})
    refused = tenant.call("POST", "/api/v1/llm/chat", json=BODY | {"model": None})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] and refused.headers[
        "x-ratelimit-remaining-requests"] == "0"
    assert "requests per minute" in refused.json["message"]


def test_a_key_refused_by_its_own_limit_does_not_use_up_the_workspaces(app, tenant, servers,
                                                                       monkeypatch):
    # Per-key limits keep one key from starving the others: the requests its own limit
    # refuses must not count against the workspace's limit too.
    frozen = time.time() // 60 * 60 + 30
    monkeypatch.setattr(app.extensions[KEY].limiter, "clock", lambda: frozen)
    configure(tenant, servers, llm={"rate_limits": {"requests_per_minute": 4,
                                                    "per_key": {"requests_per_minute": 2}}})

    def key_headers(name: str) -> dict[str, str]:
        minted = tenant.call("POST", "/api/v1/api-keys", json={"name": name, "role": "api_user"})
        assert minted.status_code == 201, minted.json
        return {"Authorization": f"Bearer {minted.json['key']}"}

    greedy, other = key_headers("greedy"), key_headers("other")
    answers = [tenant.client.post("/api/v1/llm/chat", headers=greedy,
                                  json=BODY | {"model": None}).status_code for _ in range(6)]
    assert answers == [200, 200, 429, 429, 429, 429]
    served = tenant.client.post("/api/v1/llm/chat", headers=other, json=BODY | {"model": None})
    assert served.status_code == 200, served.json


def test_token_rate_limits_count_prompt_and_max_tokens(tenant, servers):
    configure(tenant, servers, llm={"rate_limits": {"tokens_per_minute": 1000}})
    refused = tenant.call("POST", "/api/v1/llm/chat", json=BODY | {"model": None,
                                                                  "max_tokens": 2000})
    assert refused.status_code == 429 and "tokens per minute" in refused.json["message"]


def test_deployments_show_every_route_and_its_cooldown(chained, servers):
    for _ in range(3):
        servers[0].enqueue_failure("server")
    chained.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "aliases": {"fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]},
        "cooldown": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 60}}}})
    chained.call("POST", "/api/v1/llm/chat", json=BODY)
    shown = chained.call("GET", "/api/v1/llm/deployments")
    assert shown.status_code == 200
    state = {(d["provider"], d["model"]): d for d in shown.json["deployments"]}
    assert state[("openai", "gpt-4o-mini")]["state"] == "cooldown"
    assert state[("anthropic", "claude-haiku-4-5")]["state"] == "available"
    # While it rests, the next request goes straight to the next deployment.
    before = len(servers[0].requests_to("/v1/chat/completions"))
    answer = chained.call("POST", "/api/v1/llm/chat", json=BODY).json
    assert answer["provider"] == "anthropic" and answer["attempts"] == []
    assert len(servers[0].requests_to("/v1/chat/completions")) == before


def test_a_response_schema_reaches_the_provider_as_structured_output(chained, servers):
    schema = {"type": "object", "required": ["answer"],
              "properties": {"answer": {"type": "integer"}}}
    response = chained.call("POST", "/api/v1/llm/chat", json={
        **BODY, "response_schema": {"name": "sum", "schema": schema}})
    assert response.status_code == 200, response.json
    assert json.loads(response.json["text"]) == {"answer": 0}  # the fake's schema example
    sent = servers[0].requests_to("/v1/chat/completions")[-1].json
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "sum", "schema": schema, "strict": False}}
    compat = chained.call("POST", "/api/v1/openai/chat/completions", json={
        **BODY, "response_format": {"type": "json_schema",
                                    "json_schema": {"name": "sum", "schema": schema}}})
    assert compat.status_code == 200, compat.json
    assert servers[0].requests_to("/v1/chat/completions")[-1].json["response_format"][
        "json_schema"]["name"] == "sum"
    bad = chained.call("POST", "/api/v1/llm/chat", json={
        **BODY, "response_schema": {"name": "has spaces", "schema": schema}})
    assert bad.status_code == 422


def test_a_prompt_of_one_huge_word_is_answered_without_merging_it_whole(chained, monkeypatch):
    from tests.gateway.test_tokens import guard_bpe
    guard_bpe(monkeypatch)  # the whole word merged: about ten minutes of one CPU, GIL held
    word = "x" * 190_000
    started = time.monotonic()
    response = chained.call("POST", "/api/v1/llm/chat", json={
        "messages": [{"role": "user", "content": word}], "model": "fast"})
    assert response.status_code == 200, response.json
    assert time.monotonic() - started < 10


def test_a_model_name_longer_than_the_ledger_keeps_is_refused_before_any_call(chained,
                                                                              servers):
    """The ledger keeps 200 characters of the requested model: a longer name was sent
    upstream (paid for), then failed its ledger row: a 500, and a call nowhere recorded."""
    key = chained.api_key()
    sdk = {"Authorization": f"Bearer {key}"}
    long, kept = "openai/" + "m" * 194, "openai/" + "m" * 193
    for path, body, headers in (
            ("/api/v1/llm/chat", {**BODY, "model": long}, chained.headers),
            ("/api/v1/llm/chat", {**BODY, "model": long, "stream": True}, chained.headers),
            ("/api/v1/openai/chat/completions", {**BODY, "model": long}, sdk),
            ("/api/v1/openai/embeddings", {"model": "m" * 201, "input": "x"}, sdk)):
        response = chained.client.post(path, json=body, headers=headers)
        openai_shaped = path.startswith("/api/v1/openai/")  # OpenAI's status and shape
        assert response.status_code == (400 if openai_shaped else 422), (path, response.json)
        if openai_shaped:
            assert response.json["error"]["param"] == "model"
        else:
            assert "model" in response.json["errors"]["json"]
    assert not servers[0].requests_to("/v1/chat/completions")
    assert chained.call("GET", "/api/v1/usage").json["groups"][0]["requests"] == 0
    response = chained.call("POST", "/api/v1/llm/chat", json={**BODY, "model": kept})
    assert response.status_code == 200, response.json
    assert chained.call("GET", "/api/v1/usage").json["groups"][0]["requests"] == 1


def test_a_stream_whose_upstream_claims_a_hostile_model_and_counts_is_recorded_bounded(
        tenant, servers, database):
    # The tenant's base_url may name its own server (see test_ledger's plain-chat case).
    configure(tenant, servers)
    piece = {"id": "c", "object": "chat.completion.chunk", "created": 1,
             "model": "m\x00" + "y" * 300}
    servers[0].enqueue(sse=[
        (None, {**piece, "choices": [{"index": 0, "delta": {"content": "hi"},
                                      "finish_reason": None}]}),
        (None, {**piece, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        (None, {**piece, "choices": [], "usage": {"prompt_tokens": 2**40,
                                                  "completion_tokens": 3}}),
        (None, "[DONE]")])

    response = tenant.call("POST", "/api/v1/llm/chat", json={
        **BODY, "model": "openai/gpt-4o-mini", "stream": True})

    found = events(response.get_data())
    assert found[-1][0] == "done", found[-1]
    with psycopg.connect(database.superuser_dsn) as connection:
        model, input_tokens, status = connection.execute(
            "SELECT model, input_tokens, status FROM llm_usage WHERE workspace_id = %s",
            (tenant.workspace_id,)).fetchone()
    assert (model, input_tokens, status) == (("m" + "y" * 300)[:200], 2**31 - 1, "ok")


@pytest.mark.parametrize("claimed", ["m\r\nX-Injected: 1", "mod\u00e8l-\u20ac", "m\u2028x"])
def test_a_streamed_model_name_no_header_can_carry_is_encoded_in_its_header(app, tenant,
                                                                            servers, claimed):
    # The model the upstream claims goes into X-LLM-Model: a line break there failed the
    # answer (500), a character beyond Latin-1 broke the connection; neither may inject.
    configure(tenant, servers)
    piece = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": claimed}
    servers[0].enqueue(sse=[(None, {**piece, "choices": [{"index": 0, "delta": {
        "content": "hi"}, "finish_reason": "stop"}]}), (None, "[DONE]")])
    with serving(app) as port:
        response = httpx.post(f"http://127.0.0.1:{port}/api/v1/llm/chat", timeout=10,
                              headers=tenant.headers, json={
                                  **BODY, "model": "openai/gpt-4o-mini", "stream": True})
    assert response.status_code == 200, response.text
    assert "x-injected" not in response.headers
    header = response.headers["x-llm-model"]
    assert header.isascii() and header.isprintable()
    found = events(response.content)
    assert found[-1][0] == "done" and found[-1][1]["model"] == claimed


def test_a_streamed_model_name_holding_a_lone_surrogate_is_answered_and_recorded(tenant,
                                                                                 servers):
    # Half a UTF-16 pair has no UTF-8 form: neither the X-LLM-Model header nor the ledger
    # row could carry it (a 500, or the stream broken off with the call left pending).
    configure(tenant, servers)
    piece = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m\ud800x"}
    servers[0].enqueue(sse=[(None, {**piece, "choices": [{"index": 0, "delta": {
        "content": "hi"}, "finish_reason": "stop"}]}), (None, "[DONE]")])
    response = tenant.call("POST", "/api/v1/llm/chat", json={
        **BODY, "model": "openai/gpt-4o-mini", "stream": True})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "event: done" in body, body
    usage = tenant.call("GET", "/api/v1/usage?group_by=model").json["groups"]
    assert [(g["requests"], g["pending_requests"]) for g in usage] == [(1, 0)]


@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions"])
def test_an_answer_holding_a_lone_surrogate_reaches_the_client_with_a_replacement(
        chained, servers, path):
    # The call was paid for and recorded, then its JSON answer could not be encoded (a 500
    # saying the request was not applied).
    servers[1].reply = "before\ud800after"
    response = chained.call("POST", path, json={
        "messages": [{"role": "user", "content": "say it"}],
        "model": "anthropic/claude-haiku-4-5"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "before\ufffdafter" in response.get_data(as_text=True)



@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions"])
def test_an_error_mid_stream_is_mapped_as_the_json_answer_maps_it(chained, monkeypatch, path):
    """The error event carries the platform's mapped error (the status, message and, in the
    OpenAI shape, type and code the same failure gets as a JSON answer), not the plugin's
    own words."""
    from codex32_openai.provider import OpenAIProvider

    from codex32.plugins.api import ChatChunk
    from codex32.plugins.errors import ProviderRateLimited

    def failure() -> ProviderRateLimited:
        return ProviderRateLimited("the plugin's own words", retry_after=100)

    def stream(self, request):
        yield ChatChunk(text="Hel", model="gpt-4o-mini")
        raise failure()

    def complete(self, request):
        raise failure()

    monkeypatch.setattr(OpenAIProvider, "stream", stream)
    monkeypatch.setattr(OpenAIProvider, "complete", complete)
    body = {**BODY, "model": "openai/gpt-4o-mini"}
    refused = chained.call("POST", path, json={**body, "stream": False})  # the JSON path
    assert refused.status_code == 429, refused.json
    response = chained.call("POST", path, json={**body, "stream": True})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Hel" in text and "own words" not in text, text
    if path == "/api/v1/llm/chat":
        [error] = [data for name, data in events(text.encode()) if name == "error"]
        assert (error["code"], error["status"], error["message"]) == (
            429, "Too Many Requests", refused.json["message"]), (error, refused.json)
    else:
        [error] = [json.loads(line[6:])["error"] for line in text.splitlines()
                   if line.startswith('data: {"error"')]
        assert error == refused.json["error"], (error, refused.json)
        assert error["type"] == "rate_limit_error", error


@pytest.mark.parametrize("path", ["/api/v1/llm/chat", "/api/v1/openai/chat/completions",
                                  "/api/v1/openai/embeddings"])
def test_a_counted_request_that_fails_still_carries_its_rate_limit_headers(
        app, tenant, servers, monkeypatch, path):
    """The request was counted against the limits (its budget then refused it, or no provider
    answered): the answer says what is left, as every counted answer does. A client pacing
    itself by x-ratelimit-remaining-* lost them exactly when it most needed them."""
    from tests.gateway.test_embeddings import configure_embedders

    frozen = time.time() // 60 * 60 + 30
    monkeypatch.setattr(app.extensions[KEY].limiter, "clock", lambda: frozen)
    configure_embedders(tenant, servers, rate_limits={"requests_per_minute": 5})
    body = ({"input": "hello", "model": "openai/text-embedding-3-small"} if "embed" in path
            else BODY | {"model": "openai/gpt-4o-mini"})
    for _ in range(3):  # the chat retries once: 5xx each time
        servers[0].enqueue_failure("server")
    failed = tenant.call("POST", path, json=body)
    assert failed.status_code == 502, failed.json
    assert failed.headers["x-ratelimit-remaining-requests"] == "4", dict(failed.headers)
    assert tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": "0"}]}).status_code == 200
    refused = tenant.call("POST", path, json=body)
    assert refused.status_code == 429 and "budget" in str(refused.json), refused.json
    assert refused.headers["x-ratelimit-remaining-requests"] == "3", dict(refused.headers)
    assert refused.headers["Retry-After"]
