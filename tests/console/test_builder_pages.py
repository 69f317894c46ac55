"""The builder's pages (test client): describe, answer, generate, watch, accept."""

from __future__ import annotations

import re
import uuid

from tests.builder.conftest import run_build
from tests.console.conftest import ConsoleClient

DESCRIPTION = "Check https://example.com every 5 minutes and alert me if it is down"


def started(console: ConsoleClient) -> str:
    answer = console.post("/app/builder", {"message": DESCRIPTION})
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"].rsplit("/", 1)[1]


def test_describing_a_bot_shows_the_assistants_question_as_a_field_and_the_spec(console):
    conversation = started(console)

    page = console.get(f"/app/builder/{conversation}").text

    assert "Where should the results go" in page
    assert 'name="answer-t2q1"' in page and "Use the defaults" in page
    assert "example-com-health-check" in page and "*/5 * * * *" in page


def test_answering_generating_and_accepting_creates_the_bot(app, superuser, console, tenant):
    conversation = started(console)
    answered = console.post(f"/app/builder/{conversation}/messages", {"answer-t2q1": "return"})
    assert answered.status_code == 303
    assert "Generate and validate" in console.get(f"/app/builder/{conversation}").text

    assert console.post(f"/app/builder/{conversation}/generate").status_code == 303
    running = console.get(f"/app/builder/{conversation}/build").text
    assert "running" in running and "data-events=" in running
    run_build(app, superuser, tenant, conversation)
    panel = console.get(f"/app/builder/{conversation}/build").text

    assert "validation passed" in panel and "every 1s" not in panel
    assert re.search(r"tests: \d+ passed, 0 failed", panel, re.IGNORECASE)
    assert 'class="code"' in panel and "bot.py" in panel  # highlighted files
    accepted = console.post(f"/app/builder/{conversation}/accept", {"name": "site-watch"})
    assert accepted.status_code == 303 and "/app/bots/" in accepted.headers["Location"]
    bots = tenant.call("GET", "/api/v1/bots").json["items"]
    assert [b["name"] for b in bots] == ["site-watch"]
    bot_page = console.get(accepted.headers["Location"]).text
    assert "*/5 * * * *" in bot_page and "Next runs" in bot_page


def test_a_viewer_sees_the_conversation_but_no_way_to_write_to_it(app, console, tenant):
    conversation = started(console)
    viewer = tenant.add_member("viewer")
    as_viewer = ConsoleClient(app.test_client(), viewer["email"], tenant.slug)

    page = as_viewer.get(f"/app/builder/{conversation}").text
    refused = as_viewer.post(f"/app/builder/{conversation}/messages", {"content": "go ahead"})

    assert "Where should the results go" not in page or 'name="answer-t2q1"' not in page
    assert 'action="/app/builder"' not in as_viewer.get("/app/builder").text
    assert refused.status_code == 403 and "use_builder" in refused.text


def test_another_workspaces_conversation_is_not_found(app, console):
    from tests.conftest import sign_up

    conversation = started(console)
    stranger = sign_up(app.test_client())
    theirs = ConsoleClient(app.test_client(), stranger.email, stranger.slug)

    assert theirs.get(f"/app/builder/{conversation}").status_code == 404
    assert theirs.post(f"/app/builder/{conversation}/generate").status_code == 404


def test_an_empty_description_is_a_clear_error_not_a_crash(console):
    answer = console.post("/app/builder", {"message": "   "})

    assert answer.status_code == 422 and "describe the bot" in answer.text


def test_the_build_panel_shows_each_step_and_every_repair_round():
    from codex32.console.builder_pages import _build_view

    shown = _build_view({"running": False, "progress": [
        {"event": "step", "name": "tests", "round": 1, "status": "running"},
        {"event": "step", "name": "tests", "round": 1, "status": "failed", "findings": 2},
        {"event": "step", "name": "generate", "round": 2, "status": "running"},
        {"event": "step", "name": "tests", "round": 2, "status": "passed"}],
        "report": {"passed": True, "stopped": None, "rounds": [
            {"number": 1, "files": {"bot.py": "x = 1\n"}, "changed": []},
            {"number": 2, "files": {"README.md": "# r\n", "bot.py": "x = 2\n"},
             "changed": ["bot.py"], "validation": {"tests": {"passed": 3, "failed": 0}}}]}})

    assert [(s["round"], s["name"], s["status"]) for s in shown["steps"]] == [
        (1, "tests", "failed"), (2, "generate", "done"), (2, "tests", "passed")]
    assert len(shown["rounds"]) == 2 and shown["tests"] == {"passed": 3, "failed": 0}
    assert list(shown["files"]) == ["bot.py", "README.md"] and "x" in shown["files"]["bot.py"]


def test_a_watching_page_reloads_once_the_build_has_ended(console):
    conversation = started(console)

    answer = console.get(f"/app/builder/{conversation}/build", headers={"HX-Request": "true"})

    assert answer.status_code == 204 and answer.headers["HX-Refresh"] == "true"


def test_a_failed_build_says_why_and_offers_to_generate_again(app, superuser, console, tenant):
    answer = console.post("/app/builder", {"message": "a bot that fetches a web page every "
                                                      "hour and reports its title"})
    conversation = answer.headers["Location"].rsplit("/", 1)[1]
    assert console.post(f"/app/builder/{conversation}/generate").status_code == 303
    run_build(app, superuser, tenant, conversation)

    page = console.get(f"/app/builder/{conversation}").text

    assert 'data-testid="state">failed<' in page
    assert "The build failed" in page and "templates only" in page
    assert "Generate again" in page and 'id="reply"' in page  # retry, or refine
    assert "Accept and create the bot" not in page


def test_the_build_panel_follows_the_conversations_events_and_polls_only_as_a_fallback(
        app, superuser, console, tenant):
    conversation = started(console)
    console.post(f"/app/builder/{conversation}/messages", {"answer-t2q1": "return"})
    console.post(f"/app/builder/{conversation}/generate")

    running = console.get(f"/app/builder/{conversation}/build").text
    events = f"/app/builder/{conversation}/events"
    assert f'data-events="{events}?after=0"' in running
    assert 'data-poll="every 1s"' in running and "hx-trigger" not in running  # JS decides
    run_build(app, superuser, tenant, conversation)
    stream = console.get(events)

    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    body = stream.get_data(as_text=True)
    assert "event: step" in body and body.rstrip().split("\n\n")[-1].startswith("event: done")
    assert '"state": "generated"' in body
    assert console.get(f"/app/builder/{uuid.uuid4()}/events").status_code == 404


def test_an_empty_turn_draws_the_conversation_again_with_the_error_beside_the_message(
        console):
    conversation = started(console)

    answer = console.post(f"/app/builder/{conversation}/messages", {"content": "  "})

    assert answer.status_code == 422
    page = answer.text
    assert 'id="reply"' in page and "Where should the results go" in page
    assert re.search(r'<textarea id="content"[^>]*aria-invalid="true"', page)
    assert re.search(r'id="content-error"[^>]*>[^<]*write a message', page)
