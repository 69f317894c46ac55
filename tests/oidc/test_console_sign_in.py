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


def test_a_console_session_from_a_workspaces_provider_cannot_switch_workspaces(app, client,
                                                                              provider):
    """The console's switch is the API's: what a workspace's own provider signed in stays in
    that workspace, even when the account is a member of another (where it is, say, admin)."""
    from tests.console.conftest import csrf_of

    corp, elsewhere, browser = _signed_in_by_corps_provider(app, client, provider)

    switched = browser.post("/app/workspace", data={
        "workspace": elsewhere.slug, "csrf_token": csrf_of(browser, "/app/bots")})

    assert switched.status_code == 403
    page = browser.get("/app/bots").text
    assert "Role: <strong>viewer</strong>" in page and corp.slug in page


def test_a_console_session_from_a_workspaces_provider_names_no_other_workspace(app, client,
                                                                              provider):
    """The layout's workspace switcher lists the member's workspaces; for a sign-in that
    corp's own provider vouched for (corp's admin may have made it), it names corp alone,
    not where else the member belongs."""
    corp, elsewhere, browser = _signed_in_by_corps_provider(app, client, provider)

    page = browser.get("/app/bots").text

    assert corp.slug in page and elsewhere.slug not in page


def _signed_in_by_corps_provider(app, client, provider):
    """corp (with its own provider) and elsewhere, whose admin is invited into corp as a
    viewer and signs in to the console through corp's provider: corp, elsewhere, the browser."""
    from tests.conftest import MAILBOX

    corp, elsewhere = sign_up(client), sign_up(client)
    _add_provider(corp, provider)
    assert corp.call("POST", "/api/v1/invitations",
                     json={"email": elsewhere.email, "role": "viewer"}).status_code == 201
    assert client.post(f"/api/v1/invitations/{MAILBOX.token_for(elsewhere.email)}/accept",
                       json={"password": "irrelevant password 1"}).status_code == 200
    browser = app.test_client()
    started = browser.get(f"/app/oidc/corp/start?workspace={corp.slug}")
    back = authorize_at_provider(provider, started.headers["Location"], new_sub(),
                                 email=elsewhere.email, email_verified=True)
    assert browser.get(back).status_code == 303
    return corp, elsewhere, browser
