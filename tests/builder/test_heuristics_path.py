"""The builder with no model configured: the built-in heuristics fill the specification and
ask their questions, and every artifact says it came from them."""

from __future__ import annotations

import pytest

from codex32.services.builder import spec as specs
from tests.builder.conftest import detail, say, start


def test_offline_conversation_drafts_asks_and_proceeds_with_defaults(tenant):
    first = start(tenant, message="Every morning check https://example.com and tell me if it "
                                  "is down")
    assert first["source"] == "heuristics" and "heuristics" in first["content"]
    spec = first["specification"]
    assert not specs.errors(spec)
    assert spec["trigger"] == {"type": "schedule", "cron": "0 9 * * *", "timezone": "UTC"}
    assert spec["template"] == "http_health_check"
    assert spec["parameters"]["url"] == "https://example.com"
    # It said where the results go? No: the heuristics ask, with a default.
    assert [q["field"] for q in first["questions"]] == ["outputs"]
    assert first["state"] == "gathering" and first["questions"][0]["default"] == "return"

    second = say(tenant, first["conversation_id"], "go ahead").json
    assert second["state"] == "ready" and second["questions"] == []
    assert second["specification"]["outputs"] == [{"kind": "return"}]
    assert second["suggestions"] and second["source"] == "heuristics"

    found = detail(tenant, first["conversation_id"])
    assert [t["role"] for t in found["turns"]] == ["user", "assistant", "user", "assistant"]
    assert found["state"] == "ready" and found["source"] == "heuristics"


def test_an_answer_by_question_id_settles_its_field_and_is_not_asked_again(tenant):
    first = start(tenant, message="Delete old rows from my database every night")
    asked = {q["field"]: q for q in first["questions"]}
    assert "parameters.max_age_days" in asked
    reply = say(tenant, first["conversation_id"],
                **{asked["parameters.max_age_days"]["id"]: "90"}).json
    assert reply["specification"]["parameters"]["max_age_days"] == 90
    assert "parameters.max_age_days" not in [q["field"] for q in reply["questions"]]


def test_a_vague_request_asks_what_the_bot_should_do_without_a_default(tenant):
    first = start(tenant, message="I need a bot")
    assert first["questions"][0]["field"] == "template"
    assert first["questions"][0]["default"] is None
    # Accepting the defaults cannot answer a question that has none.
    reply = say(tenant, first["conversation_id"], "use defaults").json
    assert reply["state"] == "gathering"


def test_unknown_question_ids_and_empty_turns_are_422(tenant):
    first = start(tenant, message="Check https://example.com hourly")
    assert say(tenant, first["conversation_id"], **{"nope": "x"}).status_code == 422
    assert say(tenant, first["conversation_id"]).status_code == 422
    assert len(detail(tenant, first["conversation_id"])["turns"]) == 2  # nothing written


def test_an_email_output_without_an_address_is_asked_for(tenant):
    first = start(tenant, message="Email me the top 5 headlines of https://example.com/rss "
                                  "every morning")
    fields = [q["field"] for q in first["questions"]]
    assert fields == ["outputs"] and "e-mail" in first["questions"][0]["question"]
    reply = say(tenant, first["conversation_id"],
                **{first["questions"][0]["id"]: "me@example.com"}).json
    assert reply["specification"]["outputs"] == [{"kind": "email",
                                                  "target": "me@example.com"}]
    assert reply["state"] == "ready"


def test_a_described_bot_no_template_does_is_answered_honestly_not_questioned(
        app, superuser, tenant):
    from tests.builder.conftest import run_build

    first = start(tenant, message="Every hour fetch EUR exchange rates from the API "
                                  "https://api.example.com/rates.json and return them.")
    # The user said what the bot does: nothing is asked again, no template is pretended.
    assert first["questions"] == [] and first["state"] == "ready"
    assert first["specification"]["trigger"]["cron"] == "0 * * * *"
    assert "template" not in first["specification"] or not first["specification"]["template"]
    assert "needs a language model" in first["content"]
    queued = tenant.call("POST",
                         f"/api/v1/builder/conversations/{first['conversation_id']}/generate")
    assert queued.status_code == 202, queued.json
    built = run_build(app, superuser, tenant, first["conversation_id"])
    assert not built["report"]["passed"] and built["report"]["rounds"] == []
    assert built["report"]["stopped"].startswith("no language model is configured")
    accepted = tenant.call("POST", f"/api/v1/builder/conversations/"
                                   f"{first['conversation_id']}/accept", json={})
    assert accepted.status_code == 409


@pytest.mark.parametrize("message", [
    "Every " + "9" * 5000 + " minutes check https://example.com",
    "Every " + "9" * 5000 + " days check https://example.com",
    "Every night delete rows older than " + "9" * 5000 + " days",
    "Every night delete rows " + "9" * 5000 + " weeks old",
])
def test_a_number_too_long_for_int_is_not_read_as_a_schedule_or_age(tenant, message):
    """Python refuses int() of more than 4,300 digits: the heuristics failed (a 502)."""
    response = tenant.call("POST", "/api/v1/builder/conversations", json={"message": message})

    assert response.status_code == 201, response.json
    assert not specs.errors(response.json["specification"])


def test_a_configured_provider_the_workspace_does_not_route_to_is_named_in_the_hint(tenant):
    """A new admin configured openai as the heuristics asked, and got the same answer: a
    provider is used only once the workspace routes to it, so the hint must say how."""
    saved = tenant.call("PUT", "/api/v1/providers/llm/openai",
                        json={"secrets": {"api_key": "sk-test"},
                              "config": {"base_url": "http://127.0.0.1:9/v1"}})
    assert saved.status_code == 200, saved.json

    first = start(tenant, message="a bot that fetches a web page every hour and reports its "
                                  "title")

    assert first["source"] == "heuristics" and "needs a language model" in first["content"]
    assert '{"defaults": {"llm": "openai"}}' in first["content"], first["content"]


def test_generating_while_gathering_names_the_open_questions_and_offers_defaults_only_if_any(
        tenant):
    """The 409 told a user whose only question has no default to "say 'use defaults'", which
    then asked the same question again."""
    first = start(tenant, message="a bot that checks whether a web site is up")
    question = first["questions"][0]
    assert first["state"] == "gathering" and question["default"] is None

    refused = tenant.call("POST",
                          f"/api/v1/builder/conversations/{first['conversation_id']}/generate")

    assert refused.status_code == 409
    assert "use defaults" not in refused.json["message"], refused.json
    assert question["id"] in refused.json["message"], refused.json
