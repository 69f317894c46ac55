"""The bot pages (test client): list and search, a bot's page, run now, diff, isolation."""

from __future__ import annotations

from tests.conftest import sign_up
from tests.console.conftest import ConsoleClient

V2 = "def main(event, context):\n    return {'ok': True, 'v': 2}\n"


def test_the_list_searches_by_name_and_filters_by_status(console, tenant):
    tenant.create_bot("alpha-watch")
    tenant.create_bot("beta-report", status="active")

    assert "alpha-watch" in console.get("/app/bots?q=alpha").text
    assert "beta-report" not in console.get("/app/bots?q=alpha").text
    fragment = console.get("/app/bots?status=active", headers={"HX-Request": "true"}).text
    assert "beta-report" in fragment and "alpha-watch" not in fragment
    assert "<html" not in fragment  # htmx gets the rows alone


def test_a_bots_page_shows_versions_settings_secret_names_and_a_diff(console, tenant):
    bot = tenant.create_bot("differ")
    assert tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions",
                       json={"code": V2, "message": "second"}).status_code == 201
    assert tenant.call("PUT", f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN",
                       json={"value": "s3cret-value"}).status_code in (200, 201)

    page = console.get(f"/app/bots/{bot['id']}").text
    diff = console.get(f"/app/bots/{bot['id']}/diff?a=1&b=2").text

    assert "v2 · second" in page and "API_TOKEN" in page and "s3cret-value" not in page
    assert "Run now" in page and "Runs only when started" in page
    assert "v1/bot.py" in diff and "&#39;v&#39;" in diff.replace("'", "&#39;")


def test_run_now_queues_a_run_with_the_editors_input(console, tenant, superuser):
    bot = tenant.create_bot("runner")

    answer = console.post(f"/app/bots/{bot['id']}/run", {"input": '{"city": "Oslo"}'})

    assert answer.status_code == 303
    runs = tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions").json["items"]
    assert len(runs) == 1
    run = tenant.call("GET", f"/api/v1/executions/{runs[0]['id']}").json
    assert run["input"] == {"city": "Oslo"}
    assert 'hx-trigger="every 1s"' in console.get(f"/app/bots/{bot['id']}/runs").text


def test_run_now_refuses_input_that_is_not_a_json_object(console, tenant):
    bot = tenant.create_bot("picky")

    answer = console.post(f"/app/bots/{bot['id']}/run", {"input": "[1, 2"})

    assert answer.status_code == 422 and "not JSON" in answer.text


def test_suggestions_come_from_the_apis_service(console, tenant):
    bot = tenant.create_bot("suggested")

    fragment = console.get(f"/app/bots/{bot['id']}/suggestions").text

    assert 'data-testid="suggestions"' in fragment or "No suggestions" in fragment


def test_a_viewer_is_offered_no_write_action_and_is_refused_one(app, tenant):
    bot = tenant.create_bot("watched")
    viewer = tenant.add_member("viewer")
    as_viewer = ConsoleClient(app.test_client(), viewer["email"], tenant.slug)

    page = as_viewer.get(f"/app/bots/{bot['id']}").text
    refused = as_viewer.post(f"/app/bots/{bot['id']}/run", {"input": "{}"})

    assert "Run now" not in page and "Secrets" not in page
    assert refused.status_code == 403


def test_workspace_b_never_sees_workspace_a_bots(app, tenant):
    bot = tenant.create_bot("a-private-bot")
    other = sign_up(app.test_client())
    as_b = ConsoleClient(app.test_client(), other.email, other.slug)

    assert "a-private-bot" not in as_b.get("/app/bots").text
    assert "a-private-bot" not in as_b.get("/app/bots?q=private").text
    for path in ("", "/runs", "/suggestions", "/diff?a=1&b=1"):
        assert as_b.get(f"/app/bots/{bot['id']}{path}").status_code == 404, path
    assert as_b.post(f"/app/bots/{bot['id']}/run", {"input": "{}"}).status_code == 404
