"""Generate (a queue job with stored progress), Server-Sent Events, and accept."""

from __future__ import annotations

import inspect
import json

from tests.builder.conftest import detail, run_build, say, start
from tests.builder.greeter import GOOD_FILES, GOOD_TESTS, answer

SCHEDULED = "Every morning check https://example.com and return the result"


def events(raw: bytes) -> list[tuple[str | None, str, dict]]:
    """The events of an SSE body as (id, event, data); ``retry`` and comments left out."""
    found = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines.get("id"), lines["event"], json.loads(lines["data"])))
    return found


def ready(tenant, message: str = SCHEDULED) -> str:
    first = start(tenant, message=message)
    if first["state"] != "ready":
        assert say(tenant, first["conversation_id"], "go ahead").json["state"] == "ready"
    return first["conversation_id"]


def test_generate_then_accept_creates_the_bot_with_its_files_and_schedule(
        app, superuser, tenant):
    conversation = ready(tenant)
    queued = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    assert queued.status_code == 202, queued.json
    assert queued.json["running"] and queued.json["step"] == "queued" and queued.json["job_id"]
    job = superuser.execute("SELECT task_name, queue_name FROM procrastinate_jobs WHERE id = %s",
                            (queued.json["job_id"],)).fetchone()
    assert job == ("codex32.build_bot", "builder")
    # A second generate while one runs is refused.
    again = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    assert again.status_code == 409

    built = run_build(app, superuser, tenant, conversation)
    assert built["state"] == "generated" and built["report"]["passed"]
    assert {"bot.py", "config.yaml", "test_bot.py", "README.md", "requirements.txt"} <= set(
        built["report"]["rounds"][0]["files"])
    steps = [(p["name"], p["status"]) for p in built["progress"] if p["event"] == "step"]
    assert ("syntax", "passed") in steps and ("tests", "passed") in steps, steps
    assert built["progress"][-1]["event"] == "build" and built["progress"][-1]["passed"]

    accepted = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                           json={})
    assert accepted.status_code == 201, accepted.json
    bot_id = accepted.json["bot_id"]
    assert accepted.json["version"] == 1
    schedule = tenant.call("GET", f"/api/v1/bots/{bot_id}/schedule").json
    assert (schedule["cron"], schedule["timezone"]) == ("0 9 * * *", "UTC")
    version = tenant.call("GET", f"/api/v1/bots/{bot_id}/versions/1").json
    assert "def main" in version["code"] and "test_bot.py" in version["files"]
    assert detail(tenant, conversation)["state"] == "accepted"
    entries = tenant.call("GET", "/api/v1/audit-logs?page_size=50").json["items"]
    actions = [e["action"] for e in entries]
    assert actions[:3] == ["bot.create", "builder.generate", "builder.conversation.create"]
    assert entries[0]["changes"]["builder_conversation"] == conversation
    assert entries[0]["changes"]["schedule"] == {"cron": "0 9 * * *", "timezone": "UTC"}
    # Accepted once: a second accept, or more messages, are refused.
    assert tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                       json={}).status_code == 409
    assert say(tenant, conversation, "one more thing").status_code == 409


def test_accept_before_generation_is_refused_and_writes_nothing(tenant):
    conversation = ready(tenant)
    response = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                           json={})
    assert response.status_code == 409
    assert tenant.call("GET", "/api/v1/bots").json["total"] == 0


def test_generate_while_questions_are_open_is_refused(tenant):
    first = start(tenant, message="I need a bot")  # its question has no default
    response = tenant.call("POST",
                           f"/api/v1/builder/conversations/{first['conversation_id']}/generate")
    assert response.status_code == 409 and "t2q1" in response.json["message"]
    assert "use defaults" not in response.json["message"]
    # A question with a default: saying "use defaults" would settle it, so it is offered.
    cleanup = start(tenant, message="delete old records")
    assert cleanup["questions"][0]["default"] == 30
    response = tenant.call("POST",
                           f"/api/v1/builder/conversations/{cleanup['conversation_id']}/generate")
    assert response.status_code == 409 and "use defaults" in response.json["message"]


def test_events_replay_stored_progress_and_resume_after_last_event_id(app, superuser, tenant):
    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    run_build(app, superuser, tenant, conversation)
    response = tenant.call("GET", f"/api/v1/builder/conversations/{conversation}/events")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    found = events(response.get_data())
    assert found[-1][1] == "done" and found[-1][2]["state"] == "generated"
    steps = [data for _, name, data in found if name == "step"]
    assert steps and steps[0]["name"] == "generate"
    # A client that went away resumes after the last event it saw, losing nothing.
    resumed = events(tenant.call("GET", f"/api/v1/builder/conversations/{conversation}/events",
                                 headers={"Last-Event-ID": "2"}).get_data())
    assert [i for i, _, _ in resumed[:-1]] == [i for i, _, _ in found[2:-1]]


def test_refining_a_bot_starts_from_it_and_accept_adds_a_version(app, superuser, tenant):
    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    run_build(app, superuser, tenant, conversation)
    bot_id = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                         json={}).json["bot_id"]
    refine = start(tenant, bot_id=bot_id)
    spec = refine["specification"]
    assert spec["template"] == "http_health_check" and spec["trigger"]["cron"] == "0 9 * * *"
    assert spec["parameters"]["url"] == "https://example.com"
    second = say(tenant, refine["conversation_id"], "check it hourly instead").json
    assert second["specification"]["trigger"]["cron"] == "0 * * * *"
    tenant.call("POST", f"/api/v1/builder/conversations/{refine['conversation_id']}/generate")
    run_build(app, superuser, tenant, refine["conversation_id"])
    accepted = tenant.call(
        "POST", f"/api/v1/builder/conversations/{refine['conversation_id']}/accept", json={})
    assert accepted.status_code == 201, accepted.json
    assert (accepted.json["bot_id"], accepted.json["version"]) == (bot_id, 2)
    assert tenant.call("GET", f"/api/v1/bots/{bot_id}/schedule").json["cron"] == "0 * * * *"


def test_the_worker_process_registers_the_build_job_on_the_builder_queue():
    from codex32.execution import builder_jobs, process, queue

    task = process.queue.app.tasks[queue.BUILD_TASK]
    # Registered inside the queue's tracing wrapper (functools.wraps: unwrap finds the body).
    assert inspect.unwrap(task.func) is builder_jobs.build_bot
    assert task.queue == queue.BUILDER_QUEUE


def test_a_build_that_fails_stores_its_error_and_leaves_the_conversation_failed(
        app, superuser, tenant, monkeypatch):
    from codex32.services.builder import pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("generator exploded")

    monkeypatch.setattr(pipeline, "build", broken)
    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    found = run_build(app, superuser, tenant, conversation)
    assert found["state"] == "failed" and "generator exploded" in found["error"]
    assert not found["running"] and found["report"] is None
    done = events(tenant.call("GET",
                              f"/api/v1/builder/conversations/{conversation}/events").get_data())
    assert done[-1][1] == "done" and "generator exploded" in done[-1][2]["error"]


def test_a_report_that_cannot_be_stored_stores_the_failure_not_a_stuck_build(
        app, superuser, tenant, monkeypatch):
    # Storing a built report can fail (a value the database refuses, a row too large): the
    # conversation must not stay "generating" for ever (every later message a 409).
    from codex32.services.builder import builds

    store = builds.store

    def refusing(session, conversation_id, result, error):
        if result is not None:
            raise ValueError("the database refused the report")
        return store(session, conversation_id, result, error)

    monkeypatch.setattr(builds, "store", refusing)
    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    found = run_build(app, superuser, tenant, conversation)
    assert found["state"] == "failed" and not found["running"] and found["report"] is None
    assert "could not be stored" in found["error"]
    again = say(tenant, conversation, "also post to the team channel")
    assert again.status_code != 409, again.json


def test_a_client_following_events_sees_the_steps_as_the_job_runs(app, superuser, tenant):
    import threading

    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    job = threading.Thread(target=run_build, args=(app, superuser, tenant, conversation))
    job.start()  # the stream's first event waits for the job's first step
    response = tenant.call("GET", f"/api/v1/builder/conversations/{conversation}/events",
                           buffered=False)
    try:
        raw = b"".join(response.response)  # ends with "done" once the job stored its report
    finally:
        job.join(timeout=30)
        response.close()
    found = events(raw)
    assert [name for _, name, _ in found].count("step") >= 4
    assert found[-1][1] == "done" and found[-1][2]["state"] == "generated"


def test_a_build_started_with_an_api_key_is_metered_to_that_key(app, superuser, tenant,
                                                                 model):
    """The key's own budget (scope api_key) must see the generation, as it sees the turns."""
    key = tenant.api_key(role="user")
    headers = {"Authorization": f"Bearer {key}"}
    model.says(json.dumps({"message": "ok", "questions": [], "suggestions": [],
                           "specification": {"name": "greeter", "purpose": "Greet people",
                                             "trigger": {"type": "manual"}}}),
               answer(GOOD_FILES))
    first = tenant.client.post("/api/v1/builder/conversations", headers=headers,
                               json={"message": "A bot that greets people"})
    assert first.status_code == 201, first.json
    conversation = first.json["conversation_id"]
    assert tenant.client.post(f"/api/v1/builder/conversations/{conversation}/generate",
                              headers=headers).status_code == 202

    run_build(app, superuser, tenant, conversation)

    rows = superuser.execute(
        "SELECT api_key_id FROM llm_usage WHERE workspace_id = %s AND conversation_id = %s",
        (tenant.workspace_id, conversation)).fetchall()
    assert len(rows) >= 2, rows  # the turn and the generation
    assert {str(row[0]) for row in rows} == {
        str(superuser.execute("SELECT id FROM api_keys WHERE workspace_id = %s",
                              (tenant.workspace_id,)).fetchone()[0])}


def refine_with_model(app, superuser, tenant, model, bot_id: str, spec: dict) -> dict:
    """Refine the bot into ``spec`` (the model's turn), build and accept; the accept's body."""
    model.says(json.dumps({"message": "ok", "questions": [], "suggestions": [],
                           "specification": spec}), answer(GOOD_FILES))
    conversation = start(tenant, bot_id=bot_id, message="change it")["conversation_id"]
    assert tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate"
                       ).status_code == 202
    assert run_build(app, superuser, tenant, conversation)["report"]["passed"]
    accepted = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                           json={})
    assert accepted.status_code == 201, accepted.json
    return accepted.json


def test_refining_a_scheduled_bot_into_a_manual_one_removes_its_schedule(app, superuser,
                                                                         tenant, model):
    bot = tenant.create_bot()
    assert tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule",
                       json={"cron": "0 9 * * *", "timezone": "UTC"}).status_code in (200, 201)

    accepted = refine_with_model(app, superuser, tenant, model, bot["id"], {
        "name": "greeter", "purpose": "Greet people, only when asked",
        "trigger": {"type": "manual"}})

    assert accepted["schedule"] is None
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/schedule").status_code == 404
    entry = tenant.call("GET", "/api/v1/audit-logs?page_size=5").json["items"][0]
    assert entry["action"] == "bot.update" and entry["changes"]["schedule"] is None


def test_refining_a_networked_bot_into_one_without_network_turns_its_network_off(
        app, superuser, tenant, model):
    bot = tenant.create_bot(settings={"network": True})

    refine_with_model(app, superuser, tenant, model, bot["id"], {
        "name": "greeter", "purpose": "Greet people", "trigger": {"type": "manual"},
        "network": {"needed": False}})

    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["settings"]["network"] is False


def test_accept_refuses_a_blank_name_as_the_bots_api_does(app, superuser, tenant):
    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    assert run_build(app, superuser, tenant, conversation)["report"]["passed"]

    response = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                           json={"name": "   "})

    assert response.status_code == 422, response.json
    assert tenant.call("GET", "/api/v1/bots").json["total"] == 0
    assert detail(tenant, conversation)["state"] == "generated"


def test_refining_a_scheduled_bot_keeps_its_schedules_input_and_pause(app, superuser, tenant,
                                                                      model):
    bot = tenant.create_bot()
    assert tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json={
        "cron": "0 9 * * *", "timezone": "UTC", "enabled": False,
        "input": {"url": "https://example.com"}}).status_code in (200, 201)

    refine_with_model(app, superuser, tenant, model, bot["id"], {
        "name": "greeter", "purpose": "Greet people, with logging",
        "trigger": {"type": "schedule", "cron": "0 10 * * *", "timezone": "UTC"}})

    schedule = tenant.call("GET", f"/api/v1/bots/{bot['id']}/schedule").json
    assert schedule["cron"] == "0 10 * * *"
    assert schedule["input"] == {"url": "https://example.com"}
    assert schedule["enabled"] is False


def test_a_turn_answered_while_the_conversation_was_accepted_is_refused(app, superuser, tenant,
                                                                        monkeypatch):
    """Accepted (another tab) while the turn's model answered: the accepted conversation is
    closed, so the late turn is a 409 and changes nothing."""
    from codex32.api.v1 import builder as builder_api

    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    run_build(app, superuser, tenant, conversation)
    before = detail(tenant, conversation)
    real_respond = builder_api.clarify.respond

    def respond_while_accepted(context):
        reply = real_respond(context)
        superuser.execute("UPDATE builder_conversations SET state = 'accepted' WHERE id = %s",
                          (conversation,))  # as an accept commits it (another request)
        return reply

    monkeypatch.setattr(builder_api.clarify, "respond", respond_while_accepted)
    late = say(tenant, conversation, "check it hourly instead")

    assert late.status_code == 409, late.json
    after = detail(tenant, conversation)
    assert after["state"] == "accepted" and after["turns"] == before["turns"]
    assert after["specification"] == before["specification"]


def test_a_failing_test_that_prints_nul_keeps_its_build_report(app, superuser, tenant, model):
    """pytest's report of generated tests is the model's code's output: a NUL in it made the
    report one the database refuses, and the build ended with no report at all."""
    assert tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"builder": {
        "max_repair_rounds": 0}}}).status_code == 200
    printing = GOOD_TESTS + '\n\ndef test_prints_nul():\n    print("a\\x00b")\n    assert False\n'
    model.says(json.dumps({"message": "ok", "questions": [], "suggestions": [],
                           "specification": {"name": "greeter", "purpose": "Greet people",
                                             "trigger": {"type": "manual"}}}),
               answer({**GOOD_FILES, "test_bot.py": printing}))
    conversation = start(tenant, message="A bot that greets people")["conversation_id"]
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")

    built = run_build(app, superuser, tenant, conversation)

    assert built["error"] == built["report"]["stopped"], built["error"]  # not "not stored"
    assert built["state"] == "failed" and built["report"]["passed"] is False
    tests = next(s for s in built["report"]["rounds"][-1]["validation"]["steps"]
                 if s["name"] == "tests")
    assert tests["status"] == "failed"


def test_the_memory_a_refinement_settles_reaches_the_bots_settings(app, superuser, tenant,
                                                                   model):
    bot = tenant.create_bot()

    refine_with_model(app, superuser, tenant, model, bot["id"], {
        "name": "greeter", "purpose": "Greet people", "trigger": {"type": "manual"},
        "limits": {"timeout_seconds": 20, "memory_mb": 128}})

    settings = tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["settings"]
    assert (settings["timeout_seconds"], settings["memory_mb"]) == (20, 128)


def test_the_notifications_a_build_settles_reach_the_bots_settings(app, superuser, tenant,
                                                                  model):
    # config.yaml said "notify the webhook when a run fails", and accept wrote the bot's
    # timeouts, memory and retries from it but not its notifications: no run ever notified.
    bot = tenant.create_bot(settings={"notifications": [{"notifier": "log", "on": ["failed"]}]})

    refine_with_model(app, superuser, tenant, model, bot["id"], {
        "name": "greeter", "purpose": "Greet people", "trigger": {"type": "manual"},
        "outputs": [{"kind": "webhook", "target": "https://hooks.example.com/greeter"}]})

    settings = tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["settings"]
    assert settings["notifications"] == [{"notifier": "webhook", "on": ["failed", "timed_out"]}]
    # A refinement whose config.yaml names no notification keeps the bot's own rules.
    refine_with_model(app, superuser, tenant, model, bot["id"], {
        "name": "greeter", "purpose": "Greet people", "trigger": {"type": "manual"}})
    settings = tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["settings"]
    assert settings["notifications"] == [{"notifier": "webhook", "on": ["failed", "timed_out"]}]


def test_accepting_a_refinement_with_a_name_is_refused_not_ignored(app, superuser, tenant):
    # accept's name names the bot it creates: a refinement's bot exists, and the name was
    # silently dropped (the caller believed it renamed the bot).
    conversation = ready(tenant)
    tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    run_build(app, superuser, tenant, conversation)
    bot_id = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                         json={}).json["bot_id"]
    refine = start(tenant, bot_id=bot_id)["conversation_id"]
    tenant.call("POST", f"/api/v1/builder/conversations/{refine}/generate")
    run_build(app, superuser, tenant, refine)
    refused = tenant.call("POST", f"/api/v1/builder/conversations/{refine}/accept",
                          json={"name": "renamed"})
    assert refused.status_code == 422, refused.json
    assert "PATCH /api/v1/bots/" in refused.json["message"]
    bot = tenant.call("GET", f"/api/v1/bots/{bot_id}").json
    assert bot["name"] != "renamed" and bot["current_version"] == 1
    assert tenant.call("GET", f"/api/v1/builder/conversations/{refine}").json[
        "state"] == "generated"
