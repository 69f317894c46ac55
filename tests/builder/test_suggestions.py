"""GET /api/v1/bots/{id}/suggestions: static review and execution history, never a model
call (a GET spends nothing); POST asks the model too, billed to the workspace; each
suggestion ready to start a refine conversation; tenant isolation and roles."""

from __future__ import annotations

import json
import uuid

import pytest
from psycopg.types.json import Jsonb

from codex32.db import db, tenancy
from codex32.db.models import BotVersion

SLOPPY_BOT = '''import urllib.request

API_TOKEN = "sk-live-0123456789"


def main(event, context):
    try:
        body = urllib.request.urlopen("https://example.com/data").read()
    except:
        return {"ok": False}
    return {"ok": True, "size": len(body)}
'''

CAREFUL_BOT = '''"""Fetches a page with retries."""

import time
import urllib.request


def fetch(url: str, attempts: int = 3) -> bytes:
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        except OSError:
            time.sleep(2 ** attempt)
    raise RuntimeError(f"{url} did not answer")


def main(event, context):
    context.logger.info("fetching")
    return {"size": len(fetch(event["url"]))}
'''

CAREFUL_TESTS = '''import pytest

import bot


@pytest.mark.parametrize("size", [0, 3])
def test_reports_the_size(monkeypatch, size):
    monkeypatch.setattr(bot, "fetch", lambda url: b"x" * size)
    assert bot.main({"url": "u"}, None)["size"] == size


def test_fails_when_unreachable(monkeypatch):
    with pytest.raises(KeyError):
        bot.main({}, None)
'''


def suggestions_for(tenant, bot_id: str, headers=None, **query):
    response = tenant.client.get(f"/api/v1/bots/{bot_id}/suggestions", query_string=query,
                                 headers=headers or tenant.headers)
    return response


def asked_for(tenant, bot_id: str, headers=None):
    """The suggestions with the model's: ``POST``, which may spend the workspace's budget."""
    return tenant.client.post(f"/api/v1/bots/{bot_id}/suggestions",
                              headers=headers or tenant.headers)


def ids(body) -> set[str]:
    return {s["id"].rsplit(":", 1)[0] if s["id"].count(":") > 1 else s["id"]
            for s in body["suggestions"]}


def test_static_review_finds_what_the_code_and_tests_lack(tenant):
    bot = tenant.create_bot(code=SLOPPY_BOT)

    response = suggestions_for(tenant, bot["id"])

    assert response.status_code == 200, response.json
    body = response.json
    assert {"static:no-timeout", "static:no-retries", "static:swallowed-error",
            "static:no-logging", "static:no-tests", "static:hard-coded-secret",
            "static:no-notifications"} <= ids(body)
    assert body["model"] == {"asked": False, "error": None}  # the built-in heuristics
    assert body["history"]["runs"] == 0 and body["version"] == 1
    timeout = next(s for s in body["suggestions"] if s["id"].startswith("static:no-timeout"))
    assert timeout["id"] == "static:no-timeout:8" and "line 8" in timeout["detail"]
    assert (timeout["kind"], timeout["impact"], timeout["effort"]) == ("reliability", "high",
                                                                        "low")
    assert timeout["refine"] == {"method": "POST", "path": "/api/v1/builder/conversations",
                                 "body": {"message": timeout["message"], "bot_id": bot["id"]}}
    impacts = [s["impact"] for s in body["suggestions"]]
    assert impacts == sorted(impacts, key=["high", "medium", "low"].index)


def test_a_careful_bot_with_tests_gets_no_reliability_nagging(tenant):
    bot = tenant.create_bot(code=CAREFUL_BOT)
    tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"settings": {"notifications": [
        {"notifier": "log", "on": ["failed"]}]}})
    version_files = {"test_bot.py": CAREFUL_TESTS}
    _set_files(tenant, bot["id"], version_files)

    body = suggestions_for(tenant, bot["id"]).json

    assert ids(body) == set(), body["suggestions"]


def test_execution_history_drives_timeouts_failures_and_retries(tenant, superuser):
    bot = tenant.create_bot(code=CAREFUL_BOT)
    _set_files(tenant, bot["id"], {"test_bot.py": CAREFUL_TESTS})
    runs = [("timed_out", None, 30.0)] * 3 + [("failed", "urllib.error.URLError", 1.0)] * 4 \
        + [("failed", "KeyError", 0.1)] + [("succeeded", None, 2.0)] * 2
    for status, error, seconds in runs:
        superuser.execute(
            "INSERT INTO bot_executions (workspace_id, id, bot_id, version, status, trigger, "
            "duration_seconds, error) VALUES (%s, %s, %s, 1, %s, 'api', %s, %s)",
            (tenant.workspace_id, uuid.uuid4(), bot["id"], status, seconds,
             Jsonb({"type": error, "message": "x"}) if error else None))

    body = suggestions_for(tenant, bot["id"]).json

    assert body["history"] == {"runs": 10, "failed": 5, "timed_out": 3, "retries": 0,
                               "p50_seconds": 1.5, "p95_seconds": 30.0,
                               "errors": [{"type": "urllib.error.URLError", "count": 4},
                                          {"type": "KeyError", "count": 1}]}
    found = {s["id"]: s for s in body["suggestions"]}
    assert {"history:timeouts", "history:failures", "history:no-retries"} <= set(found)
    assert "3 of the last 10 runs" in found["history:timeouts"]["detail"]
    assert "urllib.error.URLError" in found["history:failures"]["message"]
    assert all(s["source"] in ("static", "history") for s in body["suggestions"])


def test_the_model_adds_validated_suggestions_billed_to_the_builder(tenant, scripted_llm,
                                                                   superuser):
    bot = tenant.create_bot(code=SLOPPY_BOT)
    scripted_llm.says(json.dumps({"suggestions": [
        {"kind": "feature", "title": "Alert on size drops", "detail": "Compare with last run.",
         "impact": "medium", "effort": "medium", "message": "Alert me when the page shrinks."},
        {"kind": "magic", "title": "Invalid kind", "detail": "", "impact": "high",
         "effort": "low", "message": "never shown"}]}))

    body = asked_for(tenant, bot["id"]).json

    assert body["model"] == {"asked": True, "error": None}
    shown = [s for s in body["suggestions"] if s["source"] == "model"]
    assert [s["title"] for s in shown] == ["Alert on size drops"]
    assert shown[0]["refine"]["body"] == {"message": "Alert me when the page shrinks.",
                                          "bot_id": bot["id"]}
    assert "Give network calls a timeout" in scripted_llm.prompt(0)  # no repeats asked for
    row = superuser.execute("SELECT purpose, bot_id FROM llm_usage WHERE workspace_id = %s",
                            (tenant.workspace_id,)).fetchone()
    assert row == ("builder", uuid.UUID(bot["id"]))


def test_a_failing_model_leaves_the_other_suggestions_and_says_why(tenant, scripted_llm):
    bot = tenant.create_bot(code=SLOPPY_BOT)
    scripted_llm.says("not json")

    body = asked_for(tenant, bot["id"]).json

    assert body["model"] == {"asked": True, "error": "the model's answer held no suggestions"}
    assert "static:no-tests" in ids(body)
    assert len(scripted_llm.asked) == 1


def test_viewers_may_read_without_asking_the_model_and_other_workspaces_get_404(
        tenant, other_tenant, scripted_llm):
    bot = tenant.create_bot(code=SLOPPY_BOT)
    viewer = tenant.add_member("viewer")

    response = suggestions_for(tenant, bot["id"], headers=viewer["headers"])
    assert response.status_code == 200 and response.json["model"]["asked"] is False
    refused = asked_for(tenant, bot["id"], headers=viewer["headers"])
    assert refused.status_code == 403, refused.json  # asking the model spends: not viewers
    assert scripted_llm.asked == []

    for attempt in (bot["id"], str(uuid.uuid4())):
        for call in (suggestions_for, asked_for):
            refused = call(other_tenant, attempt)
            assert refused.status_code == 404 and refused.json["message"] == "bot not found"


def test_reading_suggestions_never_asks_the_model_nor_spends(tenant, scripted_llm, superuser,
                                                             app):
    """A GET is safe: it was a billed model call each time (the console's bot page loaded it
    on every view), spending the budget of whoever's page a link or a crawler opened."""
    from tests.console.conftest import ConsoleClient

    bot = tenant.create_bot(code=SLOPPY_BOT)
    scripted_llm.says(json.dumps({"suggestions": []}))

    body = suggestions_for(tenant, bot["id"]).json
    assert suggestions_for(tenant, bot["id"], model="true").json["model"]["asked"] is False
    console = ConsoleClient(app.test_client(), tenant.email, tenant.slug)
    fragment = console.get(f"/app/bots/{bot['id']}/suggestions")

    assert body["model"] == {"asked": False, "error": None}
    assert "static:no-tests" in ids(body)
    assert fragment.status_code == 200 and 'data-testid="suggestions"' in fragment.text
    assert scripted_llm.asked == []
    assert superuser.execute("SELECT count(*) FROM llm_usage WHERE workspace_id = %s",
                             (tenant.workspace_id,)).fetchone() == (0,)
    # The console asks the model only when told to, by a POST (CSRF-checked).
    assert console.post(f"/app/bots/{bot['id']}/suggestions", csrf=False).status_code == 403
    asked = console.post(f"/app/bots/{bot['id']}/suggestions")
    assert asked.status_code == 200 and len(scripted_llm.asked) == 1, asked.text


def _set_files(tenant, bot_id: str, files: dict[str, str]) -> None:
    """Give the bot's current version generated files (as accepting a build will)."""
    app = tenant.client.application
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            version = db.session.query(BotVersion).filter_by(bot_id=uuid.UUID(bot_id)).one()
            version.files = files
            db.session.commit()
        finally:
            db.session.remove()
            tenancy.unbind()


def test_a_suggestion_becomes_a_refine_conversation_in_one_call(tenant):
    bot = tenant.create_bot(code=SLOPPY_BOT)
    suggestion = suggestions_for(tenant, bot["id"]).json["suggestions"][0]
    refine = suggestion["refine"]

    response = tenant.call(refine["method"], refine["path"], json=refine["body"])

    assert response.status_code == 201, response.json
    conversation = tenant.call(
        "GET", f"/api/v1/builder/conversations/{response.json['conversation_id']}").json
    assert conversation["bot_id"] == bot["id"]
    assert conversation["turns"][0]["content"] == suggestion["message"]


DEEP = "-" * 600 + "1"  # compiles, but deeper than ast.unparse's recursion allows


@pytest.mark.parametrize("files", [
    {"bot.py": f"import time\n\n\ndef main(event, context):\n    while True:\n"
               f"        time.sleep({DEEP})\n"},
    {"test_bot.py": f"import bot\n\n\ndef test_it():\n    assert bot.main({{}}, None) == {DEEP}\n"},
], ids=["bot.py", "test_bot.py"])
def test_deeply_nested_code_is_reviewed_without_a_500(tenant, files):
    bot = tenant.create_bot(code=files.get("bot.py", CAREFUL_BOT))
    if "test_bot.py" in files:
        _set_files(tenant, bot["id"], {"test_bot.py": files["test_bot.py"]})

    response = suggestions_for(tenant, bot["id"])

    assert response.status_code == 200, response.json


def test_a_model_suggestion_escaping_half_a_utf16_pair_is_shown_not_a_500(tenant, scripted_llm):
    bot = tenant.create_bot(code=SLOPPY_BOT)
    scripted_llm.says(json.dumps({"suggestions": [
        {"kind": "feature", "title": "Alert \ud800", "detail": "Compare \udc00 with last run.",
         "impact": "medium", "effort": "medium", "message": "Alert me \ud800."}]}))

    response = asked_for(tenant, bot["id"])

    assert response.status_code == 200, response.get_data()[:300]
    shown = [s for s in response.json["suggestions"] if s["source"] == "model"]
    assert [(s["title"], s["detail"], s["message"]) for s in shown] == [
        ("Alert \ufffd", "Compare \ufffd with last run.", "Alert me \ufffd.")]
