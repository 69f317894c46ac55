"""The builder's conversation with a model: the scripted fake OpenAI server behind the real
SDK and the gateway. Structured output, repair once, questions by id, defaults."""

from __future__ import annotations

import json

import pytest

from codex32.services.builder import spec as specs
from tests.builder.conftest import SCHEDULED, detail, say, start, turn

VAGUE = {"name": "site-watch", "purpose": "Watch a website",
         "trigger": {"type": "schedule", "timezone": "UTC"}}
HOW_OFTEN = {"field": "trigger.cron", "question": "How often should it check?",
             "why": "It decides how quickly you hear of an outage.",
             "options": ["every 5 minutes", "hourly"], "default": "*/5 * * * *"}
WHERE = {"field": "outputs", "question": "Where should alerts go?",
         "why": "Without one the bot only returns its result.", "default": None}


def test_invalid_json_is_repaired_once_and_the_request_carries_the_schema(tenant, model):
    model.says("Sure! Here is your bot: {not json").answers(turn())
    reply = start(tenant, message="Check https://example.com every morning at 9")
    assert reply["source"] == "model" and reply["state"] == "ready"
    assert reply["specification"] == SCHEDULED
    first, repair = model.asked
    assert first["response_format"]["type"] == "json_schema"
    schema = first["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["specification"]["title"] == "BotSpecification"
    assert "Your answer was invalid" in repair["messages"][-1]["content"]
    assert "not JSON" in repair["messages"][-1]["content"]
    # Every call went through the gateway: purpose builder, the conversation as caller.
    usage = tenant.call("GET", "/api/v1/usage?group_by=purpose").json["groups"]
    assert [(g["purpose"], g["requests"]) for g in usage] == [("builder", 2)]


@pytest.mark.parametrize("unstorable", [
    json.dumps(turn(message="Here \u0000 it is.")),
    json.dumps(turn(suggestions=["lone \ud800 surrogate"])),
    json.dumps(turn({**SCHEDULED, "parameters": {"url": "https://example.com",
                                                  "threshold": float("nan")}})),
])
def test_an_answer_the_database_cannot_store_is_repaired_never_a_500(tenant, model,
                                                                     unstorable):
    """NUL, a lone surrogate, NaN: json.loads took them and storing the turn failed (500)."""
    model.says(unstorable).answers(turn())
    reply = start(tenant, message="Check https://example.com every morning at 9")
    assert reply["specification"] == SCHEDULED and reply["content"] == "Here is the bot."
    assert "not JSON" in model.asked[1]["messages"][-1]["content"]
    model.says(unstorable, unstorable)
    response = say(tenant, reply["conversation_id"], "change it")
    assert response.status_code == 502, response.json
    assert detail(tenant, reply["conversation_id"])["turns"][-1]["content"] == \
        "Here is the bot."  # nothing was written


def test_a_spec_invalid_twice_never_reaches_the_user(tenant, model):
    broken = turn({**SCHEDULED, "trigger": {"type": "sometimes"}})
    model.answers(broken, broken)
    response = tenant.call("POST", "/api/v1/builder/conversations",
                           json={"message": "a bot"})
    assert response.status_code == 502, response.json
    assert any("trigger/type" in p for p in response.json["errors"]["specification"])
    assert tenant.call("GET", "/api/v1/builder/conversations").json["total"] == 0


def test_a_question_is_asked_then_answered_by_id_and_never_asked_again(tenant, model):
    model.answers(turn(VAGUE, [HOW_OFTEN, WHERE]))
    first = start(tenant, message="Watch https://example.com for me")
    assert first["state"] == "gathering"
    asked = {q["field"]: q for q in first["questions"]}
    assert set(asked) == {"trigger.cron", "outputs"}
    assert asked["trigger.cron"]["why"] and asked["trigger.cron"]["default"] == "*/5 * * * *"
    # The model asks about the schedule again although it was answered: it is dropped.
    model.answers(turn({**VAGUE, "outputs": [{"kind": "return"}]}, [HOW_OFTEN]))
    reply = say(tenant, first["conversation_id"], "",
                **{asked["trigger.cron"]["id"]: "0 * * * *",
                   asked["outputs"]["id"]: "ops@example.com"}).json
    assert reply["specification"]["trigger"]["cron"] == "0 * * * *"
    assert reply["specification"]["outputs"] == [{"kind": "email",
                                                  "target": "ops@example.com"}]
    assert reply["questions"] == [] and reply["state"] == "ready"
    assert not specs.errors(reply["specification"])
    # The model read the answers spelled out, with the questions they answer.
    said = model.asked[-1]["messages"][-1]["content"]
    assert "How often should it check? -> 0 * * * *" in said
    system = model.asked[-1]["messages"][0]["content"]
    assert '"trigger.cron": "0 * * * *"' in system  # settled, never to be asked again


def test_use_defaults_applies_the_stated_defaults_and_asks_nothing(tenant, model):
    model.answers(turn(VAGUE, [HOW_OFTEN]))
    first = start(tenant, message="Watch https://example.com")
    model.answers(turn(VAGUE, [HOW_OFTEN]))  # the model would ask again: defaults apply
    reply = say(tenant, first["conversation_id"], "Use the defaults please").json
    assert reply["specification"]["trigger"] == {"type": "schedule", "timezone": "UTC",
                                                 "cron": "*/5 * * * *"}
    assert reply["questions"] == [] and reply["state"] == "ready"


def test_more_than_three_questions_is_an_invalid_answer(tenant, model):
    many = turn(VAGUE, [WHERE] * 4)
    model.answers(many, turn(VAGUE, [WHERE]))
    reply = start(tenant, message="Watch a site")
    assert len(model.asked) == 2 and len(reply["questions"]) == 1
    assert "questions" in model.asked[1]["messages"][-1]["content"]


def test_the_anthropic_plugin_answers_structured_output_as_its_forced_tool(tenant):
    from codex32.testing.fake_anthropic import FakeAnthropic
    from codex32.testing.scripted_model import ScriptedModel

    with FakeAnthropic() as server:
        tenant.call("PUT", "/api/v1/providers/llm/anthropic", json={
            "config": {"base_url": server.url, "timeout": 5}, "secrets": {"api_key": "k"}})
        tenant.call("PATCH", "/api/v1/workspace",
                    json={"settings": {"llm_fallback": ["anthropic"]}})
        model = ScriptedModel(server).answers(turn())
        reply = start(tenant, message="Check https://example.com every morning at 9")
    assert reply["source"] == "model" and reply["specification"] == SCHEDULED
    sent = model.asked[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "builder_turn"}
    assert sent["tools"][0]["input_schema"]["required"] == [
        "message", "specification", "questions", "suggestions"]


def test_conversation_survives_as_rows_and_lists_with_pagination(tenant, model):
    model.answers(turn(), turn())
    ids = [start(tenant, message=f"bot {n}")["conversation_id"] for n in range(2)]
    page = tenant.call("GET", "/api/v1/builder/conversations?page_size=1").json
    assert page["total"] == 2 and page["items"][0]["id"] == ids[1]
    found = detail(tenant, ids[0])
    assert found["turns"][1]["specification"] == SCHEDULED
    assert json.loads(json.dumps(found["specification"])) == SCHEDULED
