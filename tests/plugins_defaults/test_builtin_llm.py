"""BuiltinLLM: deterministic bot specifications from descriptions, honest about what it is."""

from __future__ import annotations

import json

import pytest

from codex32.plugins.defaults.builtin_llm import BuiltinLLM, schedule_from, specification_from
from codex32.plugins.defaults.template_generator import TEMPLATE_IDS, TemplateGenerator
from codex32.plugins.interfaces import ChatRequest, GenerationRequest, Message


def ask(*said: str, json_mode: bool = True) -> str:
    messages = tuple(Message("user", s) for s in said)
    return BuiltinLLM().complete(ChatRequest(messages=messages, json_mode=json_mode)).text


def test_it_says_it_is_not_a_language_model_and_costs_nothing():
    result = BuiltinLLM().complete(ChatRequest(messages=(Message("user", "ping a site"),),
                                               json_mode=True))

    assert BuiltinLLM.is_language_model is False
    assert "not a language model" in BuiltinLLM.title
    assert "not a language model" in json.loads(result.text)["note"]
    assert result.usage.total_tokens == 0 and result.cost_usd == 0.0
    assert BuiltinLLM.capabilities == {"chat", "json"}


def test_a_health_check_description_becomes_a_complete_specification():
    spec = json.loads(ask("Check https://example.com/health every 5 minutes and email "
                          "ops@example.com if it is down"))

    assert spec["name"] == "example-com-health-check"
    assert spec["trigger"] == "schedule"
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["template"] == "http_health_check"
    assert spec["parameters"] == {"url": "https://example.com/health"}
    assert spec["data_sources"] == [{"kind": "web", "url": "https://example.com/health"}]
    assert spec["outputs"] == [{"kind": "email", "to": ["ops@example.com"]}]
    assert spec["clarifying_questions"] == []


def test_what_is_missing_becomes_clarifying_questions():
    questions = json.loads(ask("Monitor my website and alert me"))["clarifying_questions"]

    assert any("URL" in q for q in questions)
    assert any("How often" in q for q in questions)
    assert any("Where should the results go" in q for q in questions)


def test_later_answers_fill_what_the_first_message_left_out():
    spec = json.loads(ask("Monitor my website and alert me", "https://shop.example.com",
                          "every hour, on slack #ops"))

    assert spec["parameters"] == {"url": "https://shop.example.com"}
    assert spec["schedule"] == "0 * * * *"
    assert spec["outputs"] == [{"kind": "slack", "channel": "#ops", "webhook_url": None}]
    assert spec["clarifying_questions"] == []


@pytest.mark.parametrize(("said", "cron"), [
    ("every 5 minutes", "*/5 * * * *"),
    ("every minute", "* * * * *"),
    ("every 2 hours", "0 */2 * * *"),
    ("every 120 minutes", "0 */2 * * *"),
    ("hourly", "0 * * * *"),
    ("daily at 9", "0 9 * * *"),
    ("daily at 9:30pm", "30 21 * * *"),
    ("every day at 12am", "0 0 * * *"),
    ("every monday", "0 9 * * 1"),
    ("every monday and friday at 17:00", "0 17 * * 1,5"),
    ("on weekdays at 8am", "0 8 * * 1-5"),
    ("nightly", "0 2 * * *"),
    ("weekly", "0 9 * * 1"),
    ("monthly at noon", "0 12 1 * *"),
    ("cron */10 8-18 * * 1-5", "*/10 8-18 * * 1-5"),
])
def test_schedules_in_words_become_cron(said, cron):
    assert schedule_from(said) == (cron, None)


def test_a_schedule_cron_cannot_express_is_a_question():
    schedule, question = schedule_from("every 90 minutes")

    assert schedule is None
    assert "minutes" in question


@pytest.mark.parametrize(("said", "template"), [
    ("ping https://api.example.com and check the status code is 204", "http_health_check"),
    ("summarize the rss feed https://news.example.com/rss daily", "feed_digest"),
    ("weekly csv report of sales grouped by region", "csv_report"),
    ("forward incoming webhooks to https://example.com/hook", "webhook_relay"),
    ("purge records older than 90 days every night", "scheduled_cleanup"),
    ("tell me a joke", None),
    # A template's "against" words: the description asks for a task it does not do.
    ("check the price on https://shop.example.com/item/42 every 6 hours", None),
    ("daily, check the TLS certificate of https://example.com", None),
    ("when a form webhook comes in, append it to the CSV at https://f.example.com/a.csv", None),
    ("every friday summarize the open issues with an LLM and email the summary", None),
])
def test_the_best_matching_template_is_chosen(said, template):
    assert specification_from(said)["template"] == template


def test_a_described_bot_no_template_does_gets_no_question_a_vague_one_is_asked():
    described = specification_from("On weekdays at 9:45 post a stand-up reminder to Slack "
                                   "channel #team.")
    assert described["template"] is None and described["clarifying_questions"] == []
    assert described["schedule"] == "45 9 * * 1-5"
    vague = specification_from("Automate my boring stuff at work.")
    assert vague["clarifying_questions"][0].startswith("What should the bot do?")


@pytest.mark.parametrize(("said", "cron"), [("summarize the csv each month", "0 9 1 * *"),
                                            ("each week at 8am", "0 8 * * 1")])
def test_each_month_and_each_week_are_schedules(said, cron):
    assert schedule_from(said)[0] == cron


@pytest.mark.parametrize(("said", "trigger"), [
    ("check https://example.com every hour", "schedule"),
    ("when a new order arrives, post it to https://example.com/hook", "webhook"),
    ("build a csv report from sales.csv", "manual"),
])
def test_the_trigger_follows_the_wording(said, trigger):
    assert specification_from(said)["trigger"] == trigger


def test_parameters_are_read_from_the_description():
    spec = specification_from('Check https://x.example.com returns status 204 within 5 seconds '
                              'and the page contains "All good"')

    assert spec["parameters"] == {"url": "https://x.example.com", "expected_status": 204,
                                  "timeout_seconds": 5.0, "must_contain": "All good"}


def test_the_same_description_gives_the_same_specification():
    text = "Send me the top 3 headlines from https://example.com/feed every morning by email"

    assert specification_from(text) == specification_from(text)


@pytest.mark.parametrize("said", [
    "Check https://example.com/health every 5 minutes",
    "Send me a daily digest of the top 5 posts from https://blog.example.com/feed.xml",
    "Every monday, report on https://data.example.com/sales.csv grouped by region, sum of amount",
    "Forward incoming webhooks to https://hooks.example.com/in signed with hmac",
    "Nightly, purge records older than 2 weeks via https://api.example.com/cleanup",
])
def test_a_specification_generates_a_bot_with_the_template_generator(said):
    spec = specification_from(said)

    bot = TemplateGenerator().generate(GenerationRequest(name=spec["name"], specification=spec))

    assert spec["template"] in TEMPLATE_IDS
    compile(bot.code, "bot.py", "exec")


def test_without_json_mode_it_answers_a_readable_summary():
    text = ask("Monitor my website", json_mode=False)

    assert "not a language model" in text
    assert "Questions:" in text
