"""A new user's first hour with the builder, offline (the built-in heuristics and the
template generator): describe, clarify, generate, validate, accept, run. What goes wrong on
the way must say what is wrong and what to do next."""

from __future__ import annotations

import uuid

import pytest

from codex32 import runtime
from codex32.execution import worker
from tests.builder.conftest import detail, run_build, say, start

CLEANUP = "Every night delete files older than 30 days"  # a template bot, no network
NO_TEMPLATE = "a bot that fetches a web page every hour and reports its title"


def _generate(tenant, conversation: str):
    return tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")


def _accept(tenant, conversation: str, **body):
    return tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                       json=body)


def _built(app, superuser, tenant, message: str) -> str:
    """A conversation of ``message``, answered with defaults, generated; its id."""
    first = start(tenant, message=message)
    if first["state"] != "ready":
        assert say(tenant, first["conversation_id"], "go ahead").json["state"] == "ready"
    assert _generate(tenant, first["conversation_id"]).status_code == 202
    run_build(app, superuser, tenant, first["conversation_id"])
    return first["conversation_id"]


def _run_now(app, superuser, tenant, bot_id: str) -> dict:
    """Run the bot once by hand (``POST .../executions``), its job worked off here."""
    queued = tenant.call("POST", f"/api/v1/bots/{bot_id}/executions", json={"input": {}})
    assert queued.status_code == 202, queued.json
    job_id = superuser.execute("SELECT job_id FROM bot_executions WHERE id = %s",
                               (queued.json["id"],)).fetchone()[0]
    rt = runtime.of(app)
    with app.app_context():
        started = worker.start(rt, tenant.workspace_id, uuid.UUID(queued.json["id"]), job_id)
        assert started is not None
        worker.store(rt, started, worker.run(started, lambda: False))
    return tenant.call("GET", f"/api/v1/executions/{queued.json['id']}").json


def test_a_configured_provider_the_route_misses_is_named_not_called_missing(
        app, superuser, tenant):
    """An admin configured openai and still read "no language model is configured": the
    provider is there, the workspace's route goes to the built-in heuristics."""
    saved = tenant.call("PUT", "/api/v1/providers/llm/openai",
                        json={"secrets": {"api_key": "sk-test"},
                              "config": {"base_url": "http://127.0.0.1:9/v1"}})
    assert saved.status_code == 200, saved.json

    first = start(tenant, message=NO_TEMPLATE)
    conversation = first["conversation_id"]
    assert _generate(tenant, conversation).status_code == 202
    stopped = run_build(app, superuser, tenant, conversation)["report"]["stopped"]

    for said in (first["content"], stopped):
        assert "no language model is configured" not in said, said
        assert "'openai' is configured" in said, said
        assert '{"settings": {"defaults": {"llm": "openai"}}}' in said, said


@pytest.mark.parametrize(("routed", "change"), [
    ({"llm_fallback": ["builtin"]}, '{"settings": {"llm_fallback": ["openai"]}}'),
    ({"llm": {"aliases": {"default": ["builtin"]}}},
     '{"settings": {"llm": {"aliases": {"default": ["openai"]}}}}'),
])
def test_the_hint_changes_the_setting_the_route_reads_first(tenant, routed, change):
    """``defaults.llm`` changes nothing while ``llm_fallback`` or a 'default' alias routes."""
    assert tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "secrets": {"api_key": "sk-test"},
        "config": {"base_url": "http://127.0.0.1:9/v1"}}).status_code == 200
    assert tenant.call("PATCH", "/api/v1/workspace",
                       json={"settings": routed}).status_code == 200

    said = start(tenant, message=NO_TEMPLATE)["content"]

    assert "'openai' is configured" in said and change in said, said


def test_a_failed_build_leaves_the_conversation_failed_with_its_reason_to_retry_or_refine(
        app, superuser, tenant):
    conversation = _built(app, superuser, tenant, NO_TEMPLATE)

    found = detail(tenant, conversation)
    assert found["state"] == "failed" and not found["report"]["passed"]
    assert found["error"] == found["report"]["stopped"]
    assert "templates only" in found["error"]
    listed = tenant.call("GET", "/api/v1/builder/conversations?state=failed").json["items"]
    assert [item["id"] for item in listed] == [conversation]
    refused = _accept(tenant, conversation)
    assert refused.status_code == 409 and "failed" in refused.json["message"], refused.json
    # Retried as it stands: generated again, failed again, for the same reason.
    assert _generate(tenant, conversation).status_code == 202
    again = run_build(app, superuser, tenant, conversation)
    assert again["state"] == "failed" and again["error"] == found["error"]
    # Refined: the conversation goes on.
    reply = say(tenant, conversation, "make it check every two hours")
    assert reply.status_code == 201, reply.json
    assert detail(tenant, conversation)["state"] in ("ready", "gathering")


def test_accepting_a_validated_build_makes_an_active_bot_that_runs(app, superuser, tenant):
    conversation = _built(app, superuser, tenant, CLEANUP)
    assert detail(tenant, conversation)["state"] == "generated"

    accepted = _accept(tenant, conversation)

    assert accepted.status_code == 201, accepted.json
    assert accepted.json["status"] == "active"  # said where the bot is, not only read later
    bot = tenant.call("GET", f"/api/v1/bots/{accepted.json['bot_id']}").json
    assert bot["status"] == "active" and bot["current_version"] == 1
    audited = superuser.execute(
        "SELECT changes FROM audit_logs WHERE action = 'bot.create' AND resource_id = %s",
        (bot["id"],)).fetchone()[0]
    assert audited["status"] == "active"
    run = _run_now(app, superuser, tenant, bot["id"])
    assert run["status"] == "succeeded", run
    assert "cleanup" in run["logs"]


def test_accepting_a_refinement_activates_a_draft_bot_and_keeps_a_paused_one_paused(
        app, superuser, tenant):
    bot_id = _accept(tenant, _built(app, superuser, tenant, CLEANUP)).json["bot_id"]
    for status, after in (("draft", "active"), ("paused", "paused")):
        changed = tenant.call("PATCH", f"/api/v1/bots/{bot_id}", json={"status": status})
        assert changed.status_code == 200, changed.json
        refine = start(tenant, bot_id=bot_id)["conversation_id"]
        assert say(tenant, refine, "keep files for 60 days").status_code == 201
        assert _generate(tenant, refine).status_code == 202
        run_build(app, superuser, tenant, refine)

        accepted = _accept(tenant, refine)

        assert accepted.status_code == 201, accepted.json
        assert tenant.call("GET", f"/api/v1/bots/{bot_id}").json["status"] == after, status


def test_a_vague_start_then_the_task_names_the_bot_after_the_task(tenant):
    """"I need a bot", then what it does: the bot was still called 'bot', for 'I need a
    bot', and accepting it made a bot of that name and description."""
    first = start(tenant, message="I need a bot")
    assert first["questions"][0]["field"] == "template"

    reply = say(tenant, first["conversation_id"],
                "it should check https://example.com every hour").json

    spec = reply["specification"]
    assert spec["template"] == "http_health_check"
    assert spec["name"] != "bot" and "example" in spec["name"], spec["name"]
    assert "https://example.com" in spec["purpose"], spec["purpose"]


def test_accepting_under_a_taken_name_says_how_to_choose_another(app, superuser, tenant):
    first = _accept(tenant, _built(app, superuser, tenant, CLEANUP))
    assert first.status_code == 201
    second = _built(app, superuser, tenant, CLEANUP)

    refused = _accept(tenant, second)

    assert refused.status_code == 409
    assert '{"name": ' in refused.json["message"], refused.json
    assert _accept(tenant, second, name="nightly-cleanup-2").status_code == 201


def test_a_model_on_the_route_that_did_not_answer_is_named_and_checked_not_configured(
        tenant):
    """openai routed first, then the heuristics: openai refused, the heuristics answered, and
    the turn told the admin to configure and route a provider they had."""
    assert tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "secrets": {"api_key": "sk-test"},
        "config": {"base_url": "http://127.0.0.1:9/v1", "timeout": 2}}).status_code == 200
    assert tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"llm_fallback": ["openai", "builtin"]}}).status_code == 200

    said = start(tenant, message=NO_TEMPLATE)["content"]

    assert "'openai' on this workspace's route did not answer" in said, said
    assert "POST /api/v1/providers/llm/openai/test" in said, said
    assert "Configure an LLM provider" not in said and "builtin" not in said, said
