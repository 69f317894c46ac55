"""Run pages (Flask test client): the list, a run's page and its live fragment, cancelling,
role refusals, CSRF and another workspace's runs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Tenant, sign_up
from tests.console.conftest import ConsoleClient


def queued_run(tenant: Tenant) -> tuple[dict, dict]:
    bot = tenant.create_bot()
    answer = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"input": {"n": 1}})
    assert answer.status_code == 202, answer.json
    return bot, answer.json


def settle(superuser, execution_id: str, **columns) -> None:
    """Give a run the columns a worker would have stored (the test has no worker)."""
    values = {"status": "failed", "logs": "", "result": None, "error": None, **columns}
    superuser.execute(
        "UPDATE bot_executions SET status = %s, logs = %s, result = %s, error = %s, "
        "started_at = queued_at, completed_at = now(), duration_seconds = 1.5, "
        "cpu_seconds = 0.25, peak_memory_bytes = 20971520 WHERE id = %s",
        (values["status"], values["logs"], json.dumps(values["result"]),
         json.dumps(values["error"]), execution_id))


def test_the_runs_list_shows_the_workspaces_runs_with_their_bot(console, tenant):
    bot, run = queued_run(tenant)

    page = console.get("/app/runs")

    assert page.status_code == 200
    assert f"/app/runs/{run['id']}" in page.text and bot["name"] in page.text
    assert "Queued" in page.text
    assert f"/app/runs/{run['id']}" not in console.get("/app/runs?status=succeeded").text


def test_a_running_runs_page_polls_its_live_part_and_offers_cancel(console, tenant):
    _, run = queued_run(tenant)

    page = console.get(f"/app/runs/{run['id']}")

    assert page.status_code == 200
    assert f'hx-get="/app/runs/{run["id"]}/live"' in page.text
    assert 'hx-trigger="every 1s"' in page.text
    assert "Cancel run" in page.text


def test_a_finished_run_shows_logs_result_error_traceback_and_figures(console, tenant,
                                                                      superuser):
    _, run = queued_run(tenant)
    settle(superuser, run["id"], status="failed", logs="step one\nstep <two>\n",
           error={"type": "ValueError", "message": "bad input",
                  "traceback": 'File "bot.py", line 3, in main\nValueError: bad input\n'})

    live = console.get(f"/app/runs/{run['id']}/live")

    assert live.status_code == 200
    assert "hx-trigger" not in live.text  # a final status: the page stops polling
    assert "step &lt;two&gt;" in live.text
    assert "ValueError" in live.text and "line 3, in main" in live.text
    assert "1.50 s" in live.text and "20.0 MiB" in live.text
    assert "Cancel run" not in live.text

    settle(superuser, run["id"], status="succeeded", result={"answer": 42})
    assert '&#34;answer&#34;: 42' in console.get(f"/app/runs/{run['id']}").text


def test_cancelling_a_queued_run_ends_it_and_is_audited(console, tenant):
    _, run = queued_run(tenant)

    answer = console.post(f"/app/runs/{run['id']}/cancel")

    assert answer.status_code == 303
    assert tenant.call("GET", f"/api/v1/executions/{run['id']}").json["status"] == "cancelled"
    logged = tenant.call("GET", "/api/v1/audit-logs?action=execution.cancel").json["items"]
    assert [entry["resource_id"] for entry in logged] == [run["id"]]
    assert console.post(f"/app/runs/{run['id']}/cancel").status_code == 409  # as the API


def test_cancelling_without_the_csrf_token_is_refused(console, tenant):
    _, run = queued_run(tenant)

    assert console.post(f"/app/runs/{run['id']}/cancel", csrf=False).status_code == 403
    assert tenant.call("GET", f"/api/v1/executions/{run['id']}").json["status"] == "queued"


def test_a_viewer_sees_runs_but_is_not_offered_cancel_and_is_refused_it(app, tenant):
    _, run = queued_run(tenant)
    viewer = ConsoleClient(app.test_client(), tenant.add_member("viewer")["email"], tenant.slug)

    page = viewer.get(f"/app/runs/{run['id']}")

    assert page.status_code == 200 and "Cancel run" not in page.text
    assert viewer.post(f"/app/runs/{run['id']}/cancel").status_code == 403
    assert tenant.call("GET", f"/api/v1/executions/{run['id']}").json["status"] == "queued"


@pytest.mark.parametrize("path", ["/app/runs/{id}", "/app/runs/{id}/live"])
def test_another_workspaces_run_is_not_found(app, tenant, path):
    _, run = queued_run(tenant)
    intruder = sign_up(app.test_client())
    other = ConsoleClient(app.test_client(), intruder.email, intruder.slug)

    assert other.get(path.format(id=run["id"])).status_code == 404
    assert run["id"] not in other.get("/app/runs").text
    assert other.post(f"/app/runs/{run['id']}/cancel").status_code == 404


def test_cancelling_from_the_page_with_htmx_answers_the_live_fragment(console, tenant):
    _, run = queued_run(tenant)

    answer = console.post(f"/app/runs/{run['id']}/cancel", headers={"HX-Request": "true"})

    assert answer.status_code == 200
    assert answer.text.lstrip().startswith("<section id=\"run-live\"")
    assert "Cancelled" in answer.text and "hx-trigger" not in answer.text
