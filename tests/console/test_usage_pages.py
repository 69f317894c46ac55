"""The usage and cost page (Flask test client): charts from the ledger, the budget line for
those who may read budgets, another workspace's usage never shown."""

from __future__ import annotations

import uuid

from tests.conftest import Tenant, sign_up
from tests.console.conftest import ConsoleClient


def spend(superuser, tenant: Tenant, model: str, cost: str, purpose: str = "builder",
          tokens: int = 1000, status: str = "ok") -> None:
    """A ledger row of today, as the gateway writes one."""
    superuser.execute(
        "INSERT INTO llm_usage (workspace_id, id, purpose, provider, model, input_tokens, "
        "output_tokens, status, cost_usd) VALUES (%s, %s, %s, 'fake', %s, %s, %s, %s, %s)",
        (tenant.workspace_id, uuid.uuid4(), purpose, model, tokens, tokens // 2, status, cost))


def test_the_usage_page_charts_spend_per_day_model_and_purpose_against_the_budget(
        console, tenant, superuser):
    spend(superuser, tenant, "model-a", "1.25")
    spend(superuser, tenant, "model-b", "0.5", purpose="bot")
    bot = tenant.create_bot(name="nightly-report")
    budget = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {"scope": "workspace", "period": "day", "hard_limit_usd": 1},
        {"scope": "bot", "scope_id": bot["id"], "period": "month", "soft_limit_usd": 5}]})
    assert budget.status_code == 200, budget.json

    page = console.get("/app/usage")

    assert page.status_code == 200
    assert page.text.count('role="img"') == 3
    assert "Spend per day: $1.75 in all over 30 entries" in page.text
    assert "Daily hard limit: $1.00; 1 of 30 over it." in page.text
    assert "<th scope=\"row\">model-a</th><td>$1.25</td>" in page.text
    assert "<th scope=\"row\">bot</th><td>$0.50</td>" in page.text
    assert "Workspace, per day" in page.text  # the budgets' gauges
    assert "bot nightly-report, per month" in page.text
    assert "<script" not in page.text.split("</head>")[1]  # charts are drawn on the server


def test_tokens_instead_of_spend(console, tenant, superuser):
    spend(superuser, tenant, "model-a", "1", tokens=2000)

    page = console.get("/app/usage?metric=tokens&days=7")

    assert "Tokens per model" in page.text and "<td>3,000</td>" in page.text
    assert "over 7 entries" in page.text


def test_a_viewer_sees_usage_but_not_the_budgets(app, tenant, superuser):
    spend(superuser, tenant, "model-a", "2")
    viewer = ConsoleClient(app.test_client(), tenant.add_member("viewer")["email"], tenant.slug)

    page = viewer.get("/app/usage")

    assert page.status_code == 200 and "model-a" in page.text
    assert "Budgets" not in page.text and "Daily hard limit" not in page.text


def test_another_workspaces_usage_is_never_shown(app, tenant, superuser):
    spend(superuser, tenant, "secret-model-of-a", "3")
    intruder = sign_up(app.test_client())

    page = ConsoleClient(app.test_client(), intruder.email, intruder.slug).get("/app/usage")

    assert page.status_code == 200
    assert "secret-model-of-a" not in page.text and "nothing recorded" in page.text


def test_bad_query_values_fall_back_to_the_defaults(console):
    page = console.get("/app/usage?days=-5&metric=<x>")

    assert page.status_code == 200 and "last 30 days" in page.text


def test_calls_never_recorded_are_shown_apart_from_failures(console, tenant, superuser):
    spend(superuser, tenant, "model-a", "0.25", status="unsettled")  # swept at its maximum
    spend(superuser, tenant, "model-a", "0", status="error")

    page = console.get("/app/usage")

    assert "<dt>Failed</dt><dd>1</dd>" in page.text
    assert "<dt>Never recorded (charged at their maximum)</dt><dd>1</dd>" in page.text
