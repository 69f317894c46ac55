"""End to end in headless Chromium against a live server and a worker: sign in, build a bot
with the builder, accept it, run it; a viewer, another workspace and a forged form.

One worker for the module, and the server and browser the end-to-end modules share
(tests/console/conftest.py); the main pages' screenshots are saved (into docs/screenshots/ by
`make screenshots`).
"""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, sign_up

pytestmark = pytest.mark.xdist_group("console-e2e")


@pytest.fixture(scope="module")
def worker(start_worker):
    """A worker for the module's builds and runs."""
    return start_worker()


def test_a_member_signs_in_and_sees_the_workspace_and_role(app, browser):
    tenant = sign_up(app.test_client())

    shown = browser.run("sign_in", email=tenant.email, password=PASSWORD,
                        workspace=tenant.slug, screenshots=True)

    assert shown["role"] == "Role: admin"
    assert shown["url"].endswith("/app/bots")
    assert shown["phoneWidth"] <= 390  # no sideways scrolling on a phone
    assert shown["firstFocus"] == "Skip to content"


def test_describe_answer_validate_accept_and_run_a_bot(app, browser, live_server, worker):
    tenant = sign_up(app.test_client())

    done = browser.run("builder", email=tenant.email, password=PASSWORD, workspace=tenant.slug,
                       description=f"Check {live_server}/health every 5 minutes and alert "
                                   f"me if it is down",
                       answer="return", name="health-watch", screenshots=True, timeout=20000)

    assert "Where should the results go" in done["asked"]
    assert any("tests: passed" in step for step in done["steps"])
    assert " 0 failed" in done["tests"]
    assert done["status"] == "succeeded", done
    bots = tenant.call("GET", "/api/v1/bots").json["items"]
    assert [bot["name"] for bot in bots] == ["health-watch"]


def test_a_viewer_sees_no_write_actions_and_a_forged_one_is_refused(app, browser):
    tenant = sign_up(app.test_client())
    bot = tenant.create_bot("viewed")
    viewer = tenant.add_member("viewer")

    shown = browser.run("viewer", email=viewer["email"], password=PASSWORD,
                        workspace=tenant.slug, bot=bot["id"])

    assert "Builder" not in shown["nav"] and "Admin" not in shown["nav"]
    assert "Run now" not in shown["buttons"]
    assert shown["forged"] == 403


def test_workspace_b_never_sees_workspace_a(app, browser):
    a, b = sign_up(app.test_client()), sign_up(app.test_client())
    bot = a.create_bot("a-secret-project")

    shown = browser.run("isolation", email=b.email, password=PASSWORD, workspace=b.slug,
                        bot=bot["id"])

    assert "a-secret-project" not in shown["listed"] and "No bots yet" in shown["listed"]
    assert shown["status"] == 404 and "a-secret-project" not in shown["shown"]


def test_a_form_without_its_csrf_token_is_refused(app, browser):
    tenant = sign_up(app.test_client())
    bot = tenant.create_bot("guarded")

    shown = browser.run("csrf", email=tenant.email, password=PASSWORD, workspace=tenant.slug,
                        bot=bot["id"])

    assert shown["status"] == 403 and "CSRF" in shown["shown"]
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions").json["items"] == []
