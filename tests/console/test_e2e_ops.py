"""End to end in headless Chromium: watch a bot's run to its logs and result, see the cost
chart, an admin mints an API key, a viewer is not offered the admin area. The tests save
run.png, run-phone.png, usage.png and api-keys.png (into docs/screenshots/ by
`make screenshots`)."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.conftest import PASSWORD, sign_up

pytestmark = pytest.mark.xdist_group("console-e2e")

BOT = ("def main(event, context):\n"
       "    print('adding', event['a'], 'and', event['b'])\n"
       "    return {'sum': event['a'] + event['b']}\n")


def test_a_member_watches_a_run_to_its_logs_and_result(app, browser, start_worker):
    # The worker starts while the member signs up and opens the run's page, which shows
    # the run queued, then polls until it has ended.
    worker = threading.Thread(target=start_worker)
    worker.start()
    tenant = sign_up(app.test_client())
    bot = tenant.create_bot(code=BOT)
    run = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                      json={"input": {"a": 2, "b": 3}}).json

    shown = browser.run("run_watch", email=tenant.email, password=PASSWORD,
                        workspace=tenant.slug, run_id=run["id"], screenshots=True)
    worker.join()

    assert shown["statuses"][-1] == "Succeeded"
    assert "adding 2 and 3" in shown["logs"]
    assert '"sum": 5' in shown["result"]


def test_the_cost_chart_shows_spend_against_the_budget(app, browser, superuser):
    tenant = sign_up(app.test_client())
    for model, cost in (("gpt-4o-mini", "0.42"), ("claude-haiku", "1.3"), ("builtin", "0")):
        superuser.execute(
            "INSERT INTO llm_usage (workspace_id, id, purpose, provider, model, input_tokens, "
            "output_tokens, status, cost_usd) VALUES (%s, %s, 'builder', 'fake', %s, 1200, "
            "300, 'ok', %s)", (tenant.workspace_id, uuid.uuid4(), model, cost))
    tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": 1.5},
        {"scope": "workspace", "period": "month", "soft_limit_usd": 20}]})

    shown = browser.run("usage_chart", email=tenant.email, password=PASSWORD,
                        workspace=tenant.slug, screenshots=True)

    assert shown["charts"] == ["per-day-title per-day-desc", "per-model-title per-model-desc",
                               "per-purpose-title per-purpose-desc"]
    assert "$1.72 in all" in shown["perDay"] and "Daily hard limit: $1.50" in shown["perDay"]
    assert "claude-haiku\t$1.30" in shown["table"]


def test_an_admin_mints_an_api_key_shown_once(app, browser):
    tenant = sign_up(app.test_client())

    shown = browser.run("mint_key", email=tenant.email, password=PASSWORD,
                        workspace=tenant.slug, name="deploy-bot", screenshots=True)

    assert shown["listed"] and not shown["shownAgain"]
    assert tenant.client.get("/api/v1/bots",
                             headers={"X-API-Key": shown["key"]}).status_code == 200


def test_a_viewer_is_not_offered_the_admin_area(app, browser):
    tenant = sign_up(app.test_client())
    viewer = tenant.add_member("viewer")

    shown = browser.run("viewer_no_admin", email=viewer["email"], password=PASSWORD,
                        workspace=tenant.slug)

    assert "Admin" not in shown["links"] and "Runs" in shown["links"]
    assert shown["status"] == 403 and shown["heading"] == "Not allowed"
