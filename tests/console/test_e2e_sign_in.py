"""End to end in headless Chromium: signing in to the console."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, sign_up

pytestmark = pytest.mark.xdist_group("console-e2e")


def test_a_member_signs_in_and_sees_the_workspace_and_role(app, browser):
    tenant = sign_up(app.test_client())

    shown = browser.run("sign_in", email=tenant.email, password=PASSWORD,
                        workspace=tenant.slug, screenshots=True)

    assert shown["role"] == "Role: admin"
    assert shown["url"].endswith("/app/bots")
