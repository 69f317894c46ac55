"""The OpenAI-compatible endpoint, driven by the real ``openai`` SDK over HTTP with a
workspace API key as its key: chat completions (plain and streamed), embeddings, models,
and the same ledger as every other gateway call."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.conftest import configure
from tests.gateway.test_pending_records import BUDGET, budget, ledger


def test_the_openai_sdk_gets_a_chat_completion_through_the_gateway(sdk, servers, tenant):
    servers[0].enqueue_failure("server")
    servers[0].enqueue_failure("server")
    completion = sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "hello from the sdk"}])
    assert completion.choices[0].message.content == "echo: hello from the sdk"
    assert completion.model == "claude-haiku-4-5"  # fell back after two 500s
    assert completion.usage.prompt_tokens > 0
    usage = tenant.call("GET", "/api/v1/usage?group_by=api_key,purpose").json["groups"]
    assert usage[0]["requests"] == 1 and usage[0]["api_key"] and usage[0]["purpose"] == \
        "gateway"


def test_the_openai_sdk_streams_with_usage_at_the_end(sdk):
    stream = sdk.chat.completions.create(
        model="openai/gpt-4o-mini", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream these words please"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream these words please"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_the_openai_sdk_embeds_and_lists_models(sdk):
    result = sdk.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    names = {model.id for model in sdk.models.list()}
    assert {"fast", "openai/gpt-4o-mini"} <= names


def test_the_openai_sdk_embeds_along_an_embedding_alias_from_the_cache_on_repeat(sdk, tenant):
    saved = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "embedding_aliases": {"vectors": ["hashing"]}}}})
    assert saved.status_code == 200, saved.json
    answers = [sdk.embeddings.with_raw_response.create(model="vectors", input="same words")
               for _ in range(2)]
    first, second = (answer.parse() for answer in answers)
    assert answers[0].headers["x-llm-provider"] == "hashing"
    assert [answer.headers["x-llm-cache"] for answer in answers] == ["miss", "hit"]
    assert first.data[0].embedding == second.data[0].embedding
    usage = tenant.call("GET", "/api/v1/usage").json["groups"][0]
    assert usage["requests"] == 2 and usage["cache_hits"] == 1


def test_errors_reach_the_sdk_with_their_status(sdk, servers):
    servers[0].enqueue_failure("auth")
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "openai rejected" in str(caught.value)
    servers[0].enqueue_error(404)  # a model the provider does not have: the request is wrong
    with pytest.raises(openai.BadRequestError, match="refused the request as invalid"):
        sdk.chat.completions.create(model="openai/gpt-nope",
                                    messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="c32_wrong", base_url=str(sdk.base_url), max_retries=0
                      ).models.list()


def completion(tenant, **body):
    key = tenant.extra.setdefault("key", tenant.api_key())
    return tenant.client.post("/api/v1/openai/chat/completions", headers={
        "Authorization": f"Bearer {key}"}, json={
        "model": "fast", "messages": [{"role": "user", "content": "hi"}], **body})


def test_content_parts_other_than_text_are_refused_not_dropped(chained, servers):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    for content in ([{"type": "text", "text": "what is this?"}, image],
                    [{"type": "text", "text": 5}], [{"type": "text"}], ["plain"]):
        response = completion(chained, messages=[{"role": "user", "content": content}])
        assert response.status_code == 400, (content, response.json)
        assert "content" in response.json["error"]["message"]
    assert not [r for r in servers[0].requests if "chat" in r.path]  # nothing was sent
    parts = [{"type": "text", "text": "one "}, {"type": "text", "text": "two"}]
    response = completion(chained, messages=[{"role": "user", "content": parts}])
    assert response.status_code == 200, response.json
    assert response.json["choices"][0]["message"]["content"] == "echo: one two"


def test_a_json_schema_response_format_is_checked_like_the_platforms_response_schema(
        chained, servers):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    for bad in ({"schema": schema}, {"name": "a b/c", "schema": schema},
                {"name": 5, "schema": schema}, {"name": "a", "description": {"x": 1}},
                {"name": "a", "strict": "sometimes"}, {"name": "a", "schema": []}):
        response = completion(chained, response_format={"type": "json_schema",
                                                        "json_schema": bad})
        assert response.status_code == 400, (bad, response.json)
        assert "json_schema" in response.json["error"]["message"]
    assert not [r for r in servers[0].requests if "chat" in r.path]
    response = completion(chained, response_format={"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True, "schema": schema}})
    assert response.status_code == 200, response.json


def test_errors_come_in_openais_shape_and_the_sdk_reads_them(sdk, chained):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fast", temperature=5,
                                    messages=[{"role": "user", "content": "x"}])
    assert (caught.value.type, caught.value.param) == ("invalid_request_error", "temperature")
    assert caught.value.body["message"].startswith("temperature: ")  # not "json.temperature"
    assert caught.value.code is None
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(api_key="c32_wrong", base_url=str(sdk.base_url), max_retries=0
                      ).chat.completions.create(model="fast",
                                                messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "invalid_api_key"
    assert isinstance(caught.value.body, dict) and caught.value.body["message"]

    unknown = completion(chained, model="fast")  # a plain client, another key
    assert unknown.status_code == 200
    answer = chained.client.post("/api/v1/openai/completions", json={"prompt": "x"},
                                 headers={"Authorization": f"Bearer {chained.extra['key']}"})
    assert answer.status_code == 404 and set(answer.json) == {"error"}
    assert answer.json["error"]["type"] == "invalid_request_error"
    # The rest of the API keeps the platform's shape.
    elsewhere = chained.call("GET", "/api/v1/bots/00000000-0000-0000-0000-000000000000")
    assert elsewhere.status_code == 404 and "message" in elsewhere.json


def test_a_rate_limit_is_openais_rate_limit_error_with_its_headers(chained, servers):
    configure(chained, servers, llm={"aliases": {"fast": ["openai/gpt-4o-mini"]},
                                     "rate_limits": {"requests_per_minute": 1}})
    assert completion(chained).status_code == 200
    refused = completion(chained)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.headers["x-ratelimit-limit-requests"] == "1"
    error = refused.json["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert error["message"]


@pytest.mark.parametrize(("param", "value"), [
    ("stream", "yes"), ("stream", 1), ("stream", "true"), ("max_tokens", 1.5),
    ("max_tokens", "16"), ("max_tokens", True), ("max_completion_tokens", 2.5), ("n", "1"),
    ("temperature", "0.5"), ("temperature", False),
    ("stream_options", {"include_usage": "yes"}),
    ("response_format", {"type": "json_schema", "json_schema": {"name": "a", "strict": 1}})])
def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(chained, servers, param, value):
    response = completion(chained, **{param: value})
    assert response.status_code == 400, (param, value, response.json)
    assert response.json["error"]["type"] == "invalid_request_error"
    assert response.json["error"]["param"].startswith(param), response.json
    assert not [r for r in servers[0].requests if "chat" in r.path]  # nothing was sent


def test_values_of_the_right_json_type_pass(chained):
    response = completion(chained, stream=False, max_tokens=16.0, max_completion_tokens=32,
                          n=1, temperature=1, stream_options={"include_usage": False})
    assert response.status_code == 200, response.json


TOOL = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.mark.parametrize(("options", "param"), [
    ({"functions": [TOOL["function"]]}, "functions"),
    ({"function_call": "auto"}, "function_call"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
    ({"response_format": {"type": "grammar", "grammar": "root ::= 'x'"}},
     "response_format.type"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_parameter_the_gateway_cannot_honour_is_refused_before_any_call(
        sdk, tenant, servers, database, options, param):
    """Ignored, each of these would answer something else than the client asked for (plain
    text for a tool call, an answer past its stop sequence, no logprobs, no audio...)."""
    budgeted = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [BUDGET]})
    assert budgeted.status_code == 200, budgeted.json
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}],
                                    **options)
    error = caught.value
    assert (error.type, error.param) == ("invalid_request_error", param)
    assert error.code == ("unsupported_value" if "." in param else "unsupported_parameter")
    assert error.body["message"].startswith(f"{param}: the gateway does not support")
    assert not [r for server in servers for r in server.requests if "chat" in r.path]
    assert ledger(database, tenant.workspace_id) == []  # no row, pending or other
    assert budget(database, tenant.workspace_id) == (0, 0)  # nothing reserved


def test_fields_that_do_not_change_the_answer_are_accepted_and_ignored(sdk, servers):
    """What the SDK, LangChain or LlamaIndex send along (bookkeeping, sampling hints, the
    neutral value of an unsupported feature) answers normally, plain and streamed."""
    harmless = dict(user="end-user-7", store=False, metadata={"run": "42"}, seed=7, top_p=0.9,
                    presence_penalty=0.5, frequency_penalty=0.1, logprobs=False,
                    top_logprobs=None, parallel_tool_calls=True, service_tier="auto",
                    safety_identifier="hashed", prompt_cache_key="k", verbosity="low",
                    reasoning_effort="low", tool_choice="none", function_call="none",
                    tools=[], functions=[], stop=None, logit_bias={}, modalities=["text"],
                    audio=None, response_format={"type": "text"},
                    prediction={"type": "content", "content": "a known answer"})
    answer = sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "plain"}],
        stream_options={"include_usage": False}, **harmless)
    assert answer.choices[0].message.content == "echo: plain"
    stream = sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "streamed"}], stream=True,
        stream_options={"include_usage": True}, **{**harmless, "stop": []})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: streamed"


def test_a_null_optional_field_takes_its_default_as_openai_does(chained, servers):
    """OpenAI's optional fields take null (clients send ``"temperature": null`` for unset)."""
    response = completion(chained, temperature=None, n=None, stream=None, max_tokens=None,
                          max_completion_tokens=None, response_format=None,
                          stream_options=None, stop=None, tools=None, logprobs=None)
    assert response.status_code == 200, response.json
    assert response.json["choices"][0]["message"]["content"] == "echo: hi"
    [sent] = [r for r in servers[0].requests if "chat" in r.path]
    assert sent.json["temperature"] == 1.0


def _declared(params: type) -> set[str]:
    return {name for cls in params.__mro__ for name in getattr(cls, "__annotations__", {})}


def test_every_field_of_the_installed_sdk_is_supported_ignored_or_refused():
    """A field a new SDK adds is classified deliberately (openai_params), never dropped by
    default: this fails until it is."""
    from openai.types import embedding_create_params
    from openai.types.chat import completion_create_params

    from codex32.api.v1 import openai_params
    from codex32.api.v1.openai_compat import CompletionSchema, EmbeddingsSchema

    chat = _declared(completion_create_params.CompletionCreateParamsBase)
    assert chat - set(CompletionSchema().fields) - set(openai_params.IGNORED) - set(
        openai_params.REFUSED) == set()
    embeddings = _declared(embedding_create_params.EmbeddingCreateParams)
    assert embeddings - set(EmbeddingsSchema().fields) - set(
        openai_params.EMBEDDINGS_IGNORED) == set()
