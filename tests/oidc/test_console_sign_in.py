"""Signing in to the console with an OpenID Connect provider: the API's flow, ending in the
console's session cookie instead of a JSON token pair."""

from __future__ import annotations

import pytest

from tests.conftest import sign_up
from tests.oidc.conftest import authorize_at_provider, new_sub
from tests.oidc.test_sign_in import _add_provider

pytestmark = pytest.mark.xdist_group("oidc")


def test_a_member_signs_in_to_the_console_with_the_workspaces_provider(app, client, provider):
    corp = sign_up(client)
    _add_provider(corp, provider)
    member = corp.add_member("viewer")
    browser = app.test_client()

    started = browser.get(f"/app/oidc/corp/start?workspace={corp.slug}")
    assert started.status_code == 302, started.text
    back = authorize_at_provider(provider, started.headers["Location"], new_sub(),
                                 email=member["email"], email_verified=True)
    assert back.startswith("/app/oidc/corp/callback?")
    answer = browser.get(back)

    assert answer.status_code == 303 and answer.headers["Location"].endswith("/app/")
    page = browser.get("/app/bots").text
    assert "Role: <strong>viewer</strong>" in page and corp.slug in page


def test_a_refused_or_replayed_callback_shows_why_and_signs_nobody_in(app, client, provider):
    corp = sign_up(client)
    _add_provider(corp, provider)
    browser = app.test_client()
    started = browser.get(f"/app/oidc/corp/start?workspace={corp.slug}")
    back = authorize_at_provider(provider, started.headers["Location"], new_sub(),
                                 email="stranger@elsewhere.example", email_verified=True)

    refused = browser.get(back)
    replayed = browser.get(back)

    assert refused.status_code in (401, 403) and "<html" in refused.text
    assert replayed.status_code in (400, 401, 404, 422)
    assert browser.get("/app/bots").status_code == 302


def test_a_callback_started_in_another_browser_signs_nobody_in(app, client, provider):
    """Login CSRF: an attacker starts a sign-in to their own workspace, authorizes as
    themselves and sends the callback address to a victim; the victim's browser must not end
    up signed in to the attacker's workspace (the state is bound to the browser that began)."""
    corp = sign_up(client)
    _add_provider(corp, provider)
    attacker = corp.add_member("admin")
    attackers_browser, victims_browser = app.test_client(), app.test_client()
    started = attackers_browser.get(f"/app/oidc/corp/start?workspace={corp.slug}")
    back = authorize_at_provider(provider, started.headers["Location"], new_sub(),
                                 email=attacker["email"], email_verified=True)

    answer = victims_browser.get(back)

    assert answer.status_code in (401, 403) and "<html" in answer.text
    assert victims_browser.get("/app/bots").status_code == 302
    # The state was not spent: the browser that began the sign-in still finishes it.
    assert attackers_browser.get(back).status_code == 303
