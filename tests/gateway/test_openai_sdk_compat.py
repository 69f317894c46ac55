"""An app written against OpenAI, pointed at ``/api/v1/openai`` by its ``base_url``: what
the real ``openai`` SDK raises for each failure (its exception class, ``code``, whether it
retries), ``models.retrieve`` and the answers of the Anthropic plugin in OpenAI's terms."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pydantic
import pytest

from tests.gateway.conftest import ledger_rows

HELLO = [{"role": "user", "content": "hello"}]


def chats(server) -> int:
    """How many chat calls reached a fake provider."""
    return len([r for r in server.requests if r.path in ("/v1/chat/completions",
                                                         "/v1/messages")])


def test_an_invalid_request_is_openais_400_bad_request(sdk, servers):
    """OpenAI answers an invalid request 400: apps catch ``openai.BadRequestError``."""
    for options, param in (({"n": 2}, "n"), ({"temperature": 5}, "temperature"),
                           ({"tools": [{"type": "function", "function": {"name": "f f"}}]},
                            "tools.0.function.name")):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.chat.completions.create(model="fast", messages=HELLO, **options)
        assert caught.value.status_code == 400 and caught.value.param == param
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="text-embedding-3-small", input=[{"not": "text"}])
    assert caught.value.param == "input"
    assert not [r for server in servers for r in server.requests]


def test_a_prompt_too_long_for_every_model_is_context_length_exceeded(sdk, servers):
    """What LangChain and others look for to trim the conversation and ask again."""
    for server in servers:
        server.enqueue_failure("context_length")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fast", messages=HELLO)
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.type == "invalid_request_error"
    assert caught.value.param == "messages"
    assert [chats(server) for server in servers] == [1, 1]  # no retry of a context error


def test_a_spent_budget_is_insufficient_quota_which_the_sdk_does_not_retry(
        sdk, servers, tenant):
    saved = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": "0.000001"}]})
    assert saved.status_code == 200, saved.json
    sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)  # spends it
    retrying = sdk.with_options(max_retries=2)
    with pytest.raises(openai.RateLimitError) as caught:
        retrying.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    error = caught.value
    assert (error.type, error.code) == ("insufficient_quota", "insufficient_quota")
    assert error.response.headers["x-should-retry"] == "false"
    assert int(error.response.headers["retry-after"]) > 0
    assert chats(servers[0]) == 1


def test_a_failure_the_gateway_already_retried_is_not_retried_again_by_the_sdk(
        sdk, servers, tenant, database):
    """Every deployment of the route failed after the gateway's own retries: the SDK's
    default two retries would run the whole chain twice more (x-should-retry: false)."""
    for server in servers:
        for _ in range(6):
            server.enqueue_failure("server")
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.with_options(max_retries=2).chat.completions.create(model="fast", messages=HELLO)
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert [chats(server) for server in servers] == [2, 2]
    assert len(ledger_rows(database, tenant.workspace_id, "id")) == 1


def test_a_rate_limit_of_the_workspace_is_left_to_the_sdks_retry(sdk, tenant):
    """A 429 of the workspace's own limit spends nothing: the SDK may wait and retry."""
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "aliases": {"fast": ["openai/gpt-4o-mini"]},
        "rate_limits": {"requests_per_minute": 1}}}})
    assert saved.status_code == 200, saved.json
    sdk.chat.completions.create(model="fast", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="fast", messages=HELLO)
    assert caught.value.code == "rate_limit_exceeded"
    assert "x-should-retry" not in caught.value.response.headers
    assert caught.value.response.headers["retry-after"]


def test_models_retrieve_answers_an_alias_a_deployment_and_404_for_an_unknown_name(sdk):
    listed = {model.id for model in sdk.models.list()}
    for name in ("fast", "openai/gpt-4o-mini"):
        assert name in listed
        found = sdk.models.retrieve(name)
        assert (found.id, found.object, found.owned_by) == (name, "model", "codex32")
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("gpt-nope")
    error = caught.value
    assert (error.type, error.code, error.param) == ("invalid_request_error",
                                                     "model_not_found", "model")
    assert "gpt-nope" in error.message


def test_the_anthropic_plugin_answers_in_openais_terms(sdk, servers):
    """Through the same endpoint: the system message goes to Anthropic's ``system``, a
    structured answer (Anthropic's forced tool) finishes as ``stop``, not ``tool_use``,
    and ``max_tokens`` as ``length``."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    answer = sdk.chat.completions.create(
        model="anthropic/claude-haiku-4-5",
        messages=[{"role": "system", "content": "be brief"},
                  {"role": "user", "content": "give json"}],
        response_format={"type": "json_schema", "json_schema": {"name": "x",
                                                                "schema": schema}})
    assert json.loads(answer.choices[0].message.content) == {"a": "x"}
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    sent = servers[1].requests[-1].json
    assert sent["system"] == "be brief" or "be brief" in json.dumps(sent["system"])
    cut = sdk.chat.completions.create(model="anthropic/claude-haiku-4-5", max_tokens=1,
                                      messages=[{"role": "user", "content": "a long one"}])
    assert cut.choices[0].finish_reason == "length"
    stream = sdk.chat.completions.create(
        model="anthropic/claude-haiku-4-5", stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "x",
                                                                "schema": schema}},
        messages=[{"role": "user", "content": "give json"}])
    finishes = [c.choices[0].finish_reason for c in stream if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}


def test_a_streamed_answers_sse_is_openais(sdk, chained):
    """``data:`` events only, one id, created and model on every chunk, the usage chunk
    with no choices, then ``data: [DONE]``."""
    key = chained.api_key()
    response = chained.client.post("/api/v1/openai/chat/completions", headers={
        "Authorization": f"Bearer {key}"}, json={
        "model": "fast", "stream": True, "stream_options": {"include_usage": True},
        "messages": HELLO})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = response.get_data(as_text=True).split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(event.startswith("data: {") for event in events[:-2])
    assert len({(c["id"], c["created"], c["model"], c["object"]) for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_a_key_without_the_llm_permission_is_permission_denied(sdk, tenant):
    minted = tenant.call("POST", "/api/v1/api-keys", json={"name": "v", "role": "viewer"})
    assert minted.status_code == 201, minted.json
    viewer = sdk.with_options(api_key=minted.json["key"], max_retries=2)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        viewer.chat.completions.create(model="fast", messages=HELLO)
    assert caught.value.type == "permission_error"
    with pytest.raises(openai.PermissionDeniedError):
        viewer.models.retrieve("fast")


LONG = " ".join(["word"] * 60)


def test_a_client_that_closes_an_sdk_stream_midway_is_charged_what_was_produced(
        sdk, servers, tenant, database):
    servers[0].stream_interval = 0.1
    stream = sdk.chat.completions.create(model="openai/gpt-4o-mini", stream=True,
                                         messages=[{"role": "user", "content": LONG}])
    pieces = iter(stream)
    assert next(pieces).choices[0].delta.role == "assistant"
    assert next(pieces).choices[0].delta.content
    stream.close()  # the app stops reading, as on a user's "stop" button

    def recorded() -> list[dict]:
        return [row for row in ledger_rows(database, tenant.workspace_id,
                                           "status, output_tokens") if row["status"] != "pending"]

    deadline = time.monotonic() + 5
    while not recorded() and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = recorded()
    assert row["status"] == "cancelled" and row["output_tokens"] > 0, row


def recorded(database, tenant, count: int) -> None:
    """Wait until the workspace's ledger holds ``count`` rows, none pending: an HTTP chat's
    record (and its cache entry, in the same commit) is written after its response."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = ledger_rows(database, tenant.workspace_id, "status")
        if len(rows) == count and all(row["status"] != "pending" for row in rows):
            return
        time.sleep(0.02)
    raise AssertionError(f"not {count} recorded rows: {rows}")


def test_a_repeated_deterministic_chat_is_answered_from_the_cache_plain_and_streamed(
        sdk, servers, tenant, database):
    """A hit answers the same text and usage, says so in ``x-llm-cache``, and a stream
    carries the headers a proxy needs to pass it through unbuffered."""
    for stream in (False, True):
        options = {"stream": True, "stream_options": {"include_usage": True}} if stream \
            else {}
        seen = []
        for _ in range(2):
            raw = sdk.chat.completions.with_raw_response.create(
                model="openai/gpt-4o-mini", temperature=0, messages=HELLO, **options)
            answer = raw.parse()
            if stream:
                chunks = list(answer)
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                usage = chunks[-1].usage
                assert raw.headers["x-accel-buffering"] == "no"
            else:
                text, usage = answer.choices[0].message.content, answer.usage
            assert raw.headers["x-llm-provider"] == "openai"
            seen.append((raw.headers["x-llm-cache"], text, usage.completion_tokens))
            recorded(database, tenant, 2 * stream + len(seen))  # the answer is cached
        assert seen == [("miss" if not stream else "hit", "echo: hello", 3),
                        ("hit", "echo: hello", 3)], (stream, seen)
    assert chats(servers[0]) == 1
    usage = tenant.call("GET", "/api/v1/usage").json["groups"][0]
    assert (usage["requests"], usage["cache_hits"]) == (4, 3)


def streamed_text(sdk, **options) -> tuple[str, str | None]:
    chunks = [c for c in sdk.chat.completions.create(stream=True, messages=HELLO, **options)
              if c.choices]
    return ("".join(c.choices[0].delta.content or "" for c in chunks),
            chunks[-1].choices[0].finish_reason)


@pytest.mark.parametrize(("model", "sent"), [
    ("openai/gpt-4o-mini", ("stop", ["END", "\n"])),
    ("anthropic/claude-haiku-4-5", ("stop_sequences", ["END"]))])  # none of whitespace only
def test_stop_sequences_end_the_answer_before_them_on_either_provider(sdk, servers, model,
                                                                      sent):
    for server in servers:
        server.reply = "one two END three"
    server = servers[0] if model.startswith("openai") else servers[1]
    answer = sdk.chat.completions.create(model=model, messages=HELLO, stop=["END", "\n"])
    assert answer.choices[0].message.content == "one two "
    assert answer.choices[0].finish_reason == "stop"
    assert server.requests[-1].json[sent[0]] == sent[1]
    assert streamed_text(sdk, model=model, stop="END") == ("one two ", "stop")
    assert streamed_text(sdk, model=model) == ("one two END three", "stop")


def test_the_endpoint_cuts_at_a_stop_sequence_the_provider_did_not_honour(
        sdk, servers, tenant, database, monkeypatch):
    """Anthropic takes no stop sequence of whitespace only; a third-party provider may take
    none: the answer still ends before it, in a stream too where it spans two pieces."""
    from codex32.testing import fake_openai
    monkeypatch.setattr(fake_openai, "cut_at_stop", lambda text, stop: (text, None))
    servers[0].reply = "alpha beta gamma delta epsilon zeta"  # streamed as 3 pieces
    servers[1].reply = "first line\nsecond line"
    for model, stop, expected in (("openai/gpt-4o-mini", "beta gamma", "alpha "),
                                  ("anthropic/claude-haiku-4-5", "\n", "first line")):
        answer = sdk.chat.completions.create(model=model, messages=HELLO, stop=stop)
        assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == (
            expected, "stop")
        assert streamed_text(sdk, model=model, stop=[stop, "zzz"]) == (expected, "stop")
    rows = ledger_rows(database, tenant.workspace_id, "status, output_tokens")
    assert len(rows) == 4 and all(row["output_tokens"] > 0 for row in rows), rows


@pytest.mark.parametrize("stop", [["a", "b", "c", "d", "e"], "", [""], [1], {"x": 1}])
def test_a_stop_openai_would_refuse_is_a_400_naming_it(sdk, servers, stop):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fast", messages=HELLO, stop=stop)
    assert caught.value.param == "stop"
    assert not [r for server in servers for r in server.requests]


def test_a_stream_that_fails_after_its_first_words_ends_with_an_openai_shaped_error(
        sdk, servers, tenant, database):
    """Past its first words a stream cannot fall back: the SDK raises ``APIError`` from the
    error event, whose body has OpenAI's four fields; what was produced is recorded."""
    events = servers[1]._events("msg_x", "claude-haiku-4-5", "one two three four", "end_turn",
                                10, 4)[:4]  # up to the first words
    servers[1].enqueue(200, sse=[*events, ("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})], path="/v1/messages")
    stream = sdk.chat.completions.create(model="anthropic/claude-haiku-4-5", stream=True,
                                         messages=HELLO)
    text = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            text.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(text) == "one two "
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert caught.value.body["type"] == "server_error" and caught.value.message
    [row] = ledger_rows(database, tenant.workspace_id, "status, output_tokens")
    assert row["status"] == "error" and row["output_tokens"] > 0, row


def test_every_chunk_of_a_stream_names_the_same_model_the_one_that_answered(sdk, servers):
    """OpenAI names the dated snapshot that answered (gpt-4o-mini-2024-07-18) on every chunk,
    the usage chunk included."""
    from codex32.testing.fake_openai_streaming import chat_chunks
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    servers[0].enqueue(200, sse=chat_chunks("chatcmpl-x", "gpt-4o-mini-2024-07-18", 1,
                                            "two words", "stop", usage, True))
    chunks = list(sdk.chat.completions.create(
        model="openai/gpt-4o-mini", stream=True, stream_options={"include_usage": True},
        messages=HELLO))
    assert {c.model for c in chunks} == {"gpt-4o-mini-2024-07-18"}, [c.model for c in chunks]
    assert chunks[-1].usage.completion_tokens == 2


def test_an_openai_temperature_above_anthropics_range_still_gets_an_answer(sdk, servers,
                                                                         tenant):
    """OpenAI takes 0 to 2, Anthropic's API 0 to 1 (a 400 above): the anthropic plugin, when
    it sends a temperature at all (``send_temperature``), sends at most 1, so a route
    falling back to Anthropic answers the same request."""
    saved = tenant.call("PUT", "/api/v1/providers/llm/anthropic", json={
        "config": {"base_url": servers[1].url, "timeout": 2, "send_temperature": True},
        "secrets": {"api_key": "sk-a"}})
    assert saved.status_code == 200, saved.json
    answer = sdk.chat.completions.create(model="anthropic/claude-haiku-4-5", temperature=1.5,
                                         messages=HELLO)
    assert answer.choices[0].message.content == "echo: hello"
    assert servers[1].requests[-1].json["temperature"] == 1.0
    refused = httpx.post(f"{servers[1].url}/v1/messages", headers={  # as the API refuses it
        "x-api-key": "sk-a", "anthropic-version": "2023-06-01"}, json={
        "model": "claude-haiku-4-5", "max_tokens": 5, "temperature": 1.5, "messages": HELLO})
    assert refused.status_code == 400 and "temperature" in refused.text, refused.text


class City(pydantic.BaseModel):
    name: str
    population: int


class Cities(pydantic.BaseModel):
    cities: list[City]
    note: str | None


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_the_sdks_structured_output_helpers_parse_the_answer(sdk, servers, model):
    parsed = sdk.chat.completions.parse(model=model, messages=HELLO, response_format=Cities)
    assert isinstance(parsed.choices[0].message.parsed, Cities)
    assert parsed.choices[0].finish_reason == "stop"
    with sdk.chat.completions.stream(model=model, messages=HELLO,
                                     response_format=Cities) as stream:
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Cities)
    sent = (servers[0] if model.startswith("openai") else servers[1]).requests[-1].json
    assert "Cities" in json.dumps(sent)  # the schema went upstream, by its name
