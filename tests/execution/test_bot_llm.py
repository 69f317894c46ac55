"""``context.llm`` end to end: a bot created and run through the API, a real worker serving its
calls with the workspace's providers (the built-in one, or the openai plugin through its real
SDK against the local fake), a real sandbox around the bot.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from codex32.plugins.defaults.builtin_llm import MODEL as BUILTIN_MODEL
from codex32.plugins.defaults.builtin_llm import BuiltinLLM
from codex32.plugins.defaults.hashing_embedder import HashingEmbedder
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.testing.fake_openai import FakeOpenAI
from tests.execution.conftest import bot_with, finished, run, wait_for

CALLS_PER_RUN = 5
MAX_BYTES = 8192

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# worker process starts once per run, not once in each test worker that gets one of its tests.
pytestmark = pytest.mark.xdist_group("bot_llm")

QUESTION = "Every morning, check https://example.com/status and post a summary to Slack"

ASKS = """\
def main(event, context):
    return {"chat": context.llm.chat(event["question"]),
            "embed": context.llm.embed(["hello world"])}
"""
CATCHES = """\
def main(event, context):
    seen = []
    for params in event["calls"]:
        try:
            seen.append(context.llm.chat(**params)["model"])
        except context.llm.Error as exc:
            seen.append([exc.type, str(exc)])
    return seen
"""


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker(CODEX32_LOAD_PLUGINS="builtin,webhook,openai",
                        BOT_CALLS_PER_RUN=CALLS_PER_RUN, BOT_CALL_MAX_BYTES=MAX_BYTES)


def _use_openai(tenant, server: FakeOpenAI) -> None:
    """Make the fake (through the openai plugin) the workspace's only language model."""
    put = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": server.url, "timeout": 60}, "secrets": {"api_key": "sk-test"}})
    assert put.status_code in (200, 201), put.json
    patched = tenant.call("PATCH", "/api/v1/workspace",
                          json={"settings": {"llm_fallback": ["openai"]}})
    assert patched.status_code == 200, patched.json


def _run(tenant, code: str, event: dict, **settings) -> dict:
    bot = bot_with(tenant, code, **settings)
    return finished(tenant, run(tenant, bot["id"], {"input": event})["id"], timeout=60)


def test_a_bot_gets_the_builtin_providers_answer_through_the_worker(tenant, worker):
    done = _run(tenant, ASKS, {"question": QUESTION})
    assert done["status"] == "succeeded", (done["error"], done.get("logs"))
    expected = BuiltinLLM().complete(ChatRequest(messages=(Message("user", QUESTION),)))
    chat = done["result"]["chat"]
    assert chat["text"] == expected.text and chat["model"] == BUILTIN_MODEL
    assert chat["finish_reason"] == "stop"
    vectors = HashingEmbedder().embed(["hello world"]).vectors
    embedded = done["result"]["embed"]
    assert embedded["dimension"] == len(vectors[0])
    assert embedded["vectors"][0] == pytest.approx(vectors[0])
    # Both calls went through the gateway: metered as the bot's, purpose "bot".
    groups = tenant.call("GET", "/api/v1/usage?group_by=purpose,bot").json["groups"]
    assert [(g["purpose"], g["bot"], g["requests"], g["cost_usd"]) for g in groups] == [
        ("bot", done["bot_id"], 2, "0")]  # the built-in providers cost nothing


def test_a_bot_uses_its_own_workspaces_provider_and_cannot_name_another(
        tenant, other_tenant, worker):
    with FakeOpenAI(api_key="sk-test") as server:
        _use_openai(other_tenant, server)
        code = CATCHES.replace("    seen = []\n", "    seen = []\n"
                               "    context.workspace_id = event['other']\n")
        done = _run(tenant, code, {"other": other_tenant.workspace_id, "calls": [
            {"messages": "hi", "workspace_id": other_tenant.workspace_id},
            {"messages": "hi", "provider": "openai"},
            {"messages": "hi", "api_key": "sk-test"},
            {"messages": "hi"}]})
        assert done["status"] == "succeeded", (done["error"], done.get("logs"))
        *refused, answered = done["result"]
        for (kind, message), name in zip(refused, ("workspace_id", "provider", "api_key"),
                                         strict=True):
            assert kind == "InvalidRequest" and f"does not take '{name}'" in message
        assert answered == BUILTIN_MODEL  # its own workspace's provider, not the other's
        assert server.requests == []
        # The other workspace's bots get the provider it configured, through the worker.
        theirs = _run(other_tenant, CATCHES, {"calls": [{"messages": "hi"}]})
        assert theirs["status"] == "succeeded", theirs
        assert theirs["result"] == [server.requests[-1].json["model"]]
        assert len(server.requests_to("/v1/chat/completions")) == 1


def test_a_bot_spamming_calls_hits_the_runs_bound(tenant, worker):
    done = _run(tenant, CATCHES, {"calls": [{"messages": f"call {n}"} for n in range(8)]})
    assert done["status"] == "succeeded", (done["error"], done.get("logs"))
    answered, refused = done["result"][:CALLS_PER_RUN], done["result"][CALLS_PER_RUN:]
    assert answered == [BUILTIN_MODEL] * CALLS_PER_RUN
    assert [kind for kind, _ in refused] == ["LimitExceeded"] * 3
    assert f"the {CALLS_PER_RUN} calls it may make" in refused[0][1]


def test_an_oversized_request_is_refused_and_bad_parameters_are_explained(tenant, worker):
    done = _run(tenant, CATCHES, {"calls": [
        {"messages": "x" * (MAX_BYTES + 1)},
        {"messages": [{"role": "root", "content": "hi"}]},
        {"messages": "hi", "temperature": "hot"},
        {"messages": "hi"}]})
    assert done["status"] == "succeeded", (done["error"], done.get("logs"))
    too_large, bad_role, bad_temperature, answered = done["result"]
    assert too_large[0] == "RequestTooLarge" and f"at most {MAX_BYTES}" in too_large[1]
    assert bad_role[0] == "InvalidRequest" and "messages[0]" in bad_role[1]
    assert bad_temperature[0] == "InvalidRequest" and "temperature" in bad_temperature[1]
    assert answered == BUILTIN_MODEL


def test_the_runs_timeout_holds_while_a_call_is_in_flight(tenant, worker):
    with FakeOpenAI(api_key="sk-test", delay=30) as server:
        _use_openai(tenant, server)
        done = _run(tenant, CATCHES, {"calls": [{"messages": "wait"}]}, timeout_seconds=2)
        assert done["status"] == "timed_out", done
        assert done["duration_seconds"] < 10
        assert len(server.requests_to("/v1/chat/completions")) == 1  # the call was in flight
        # The call ends by the run's deadline too: recorded as the bot's timeout, nothing
        # left pending (its reservation would stand until the hourly sweep).

        def recorded() -> list[dict]:
            groups = tenant.call("GET", "/api/v1/usage?group_by=purpose,bot").json["groups"]
            return [g for g in groups if g["pending_requests"] == 0]

        [group] = wait_for(recorded, timeout=10, message="the call's ledger row")
        assert (group["purpose"], group["bot"], group["requests"], group["failed_requests"]) \
            == ("bot", done["bot_id"], 1, 1)


RAW_CALLS = r'''
import json
import os


def main(event, context):
    fd, replies = context.llm._channel._fd, []
    for n, body in enumerate(event["bodies"], start=100):
        data = ('{"id": %d, ' % n + body).encode()
        os.write(fd, len(data).to_bytes(4, "big") + data)
        size, reply = int.from_bytes(os.read(fd, 4), "big"), b""
        while len(reply) < size:
            reply += os.read(fd, size - len(reply))
        replies.append(json.loads(reply)["error"])
    return replies
'''


def test_text_that_is_not_unicode_is_refused_naming_the_field(tenant, worker):
    """A lone surrogate (which the bot's own client refuses, so sent raw) is an InvalidRequest
    naming the field, before any ledger row; not the platform's failure with a traceback."""
    done = _run(tenant, RAW_CALLS, {"bodies": [
        '"method": "llm.chat", "params": {"messages": [{"role": "user", "content": "a\\ud800"}]}}',
        '"method": "llm.chat", "params": {"messages": [{"role": "user", "content": "b"}, '
        '{"role": "user", "content": "\\udfff"}], "temperature": 0}}',
        '"method": "llm.embed", "params": {"texts": ["ok", "a\\ud800"]}}']})
    assert done["status"] == "succeeded", (done["error"], done.get("logs"))
    assert [(e["type"], e["message"].split(" ")[0]) for e in done["result"]] == [
        ("InvalidRequest", "messages[0].content"), ("InvalidRequest", "messages[1].content"),
        ("InvalidRequest", "texts[1]")]
    assert "not valid Unicode" in done["result"][0]["message"]
    groups = tenant.call("GET", "/api/v1/usage?group_by=purpose").json["groups"]
    assert groups == []


def _price_openai(tenant, usd_per_million: str) -> None:
    """Price the fake's model so that a bot's call costs money its budgets can bound."""
    patched = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {
        "llm_fallback": ["openai"], "llm": {"prices": {"openai/gpt-4o-mini": {
            "input": usd_per_million, "output": usd_per_million}}}}})
    assert patched.status_code == 200, patched.json


def test_a_bots_budget_bounds_its_own_calls_and_no_other_bots(tenant, worker):
    """A bot's hard limit refuses its calls once spent (exc.type BudgetExceeded, as
    documented), and only its own: another bot of the workspace goes on. Every answered call
    is in the ledger as the bot's, purpose bot, with its execution and cost."""
    with FakeOpenAI(api_key="sk-test") as server:
        _use_openai(tenant, server)
        _price_openai(tenant, "100000")  # "hi" and its echo: a few tokens, over 0.1 USD
        spender, other = bot_with(tenant, CATCHES), bot_with(tenant, CATCHES)
        budget = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [{
            "scope": "bot", "scope_id": spender["id"], "period": "day",
            "hard_limit_usd": "0.01"}]})
        assert budget.status_code == 200, budget.json
        calls = {"calls": [{"messages": "hi", "max_tokens": 8}] * 3}
        spent = finished(tenant, run(tenant, spender["id"], {"input": calls})["id"], timeout=60)
        free = finished(tenant, run(tenant, other["id"], {"input": calls})["id"], timeout=60)
    assert spent["status"] == "succeeded", (spent["error"], spent.get("logs"))
    answered, *refused = spent["result"]
    assert answered == "gpt-4o-mini"
    assert [kind for kind, _ in refused] == ["BudgetExceeded"] * 2, refused
    assert f"budget bot:{spender['id']}/day is spent" in refused[0][1]
    assert free["status"] == "succeeded" and free["result"] == ["gpt-4o-mini"] * 3, free
    assert len(server.requests_to("/v1/chat/completions")) == 4
    groups = tenant.call("GET", "/api/v1/usage?group_by=purpose,bot").json["groups"]
    by_bot = {g["bot"]: g for g in groups if g["purpose"] == "bot"}
    assert by_bot[spender["id"]]["requests"] == 1 and by_bot[other["id"]]["requests"] == 3
    assert Decimal(by_bot[spender["id"]]["cost_usd"]) > Decimal("0.01")
    shown = tenant.call("GET", "/api/v1/budgets").json[0]
    assert shown["reserved_usd"] == "0" and Decimal(shown["spent_usd"]) > Decimal("0.01")


def test_a_bot_over_the_workspaces_rate_limit_gets_the_documented_error_type(tenant, worker):
    """The gateway's rate limit reaches the bot as exc.type RateLimited (docs/bots.md), not
    the name of a class inside the platform."""
    patched = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": {
        "rate_limits": {"requests_per_minute": 1}}}})
    assert patched.status_code == 200, patched.json
    done = _run(tenant, CATCHES, {"calls": [{"messages": "one"}, {"messages": "two"}]})
    assert done["status"] == "succeeded", (done["error"], done.get("logs"))
    answered, (kind, message) = done["result"]
    assert answered == BUILTIN_MODEL
    assert kind == "RateLimited", (kind, message)
