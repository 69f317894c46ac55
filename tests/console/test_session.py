"""The console's browser session: sign-in, sign-out, CSRF, workspace switch (test client)."""

from __future__ import annotations

from codex32.runtime import background
from tests.conftest import MAILBOX, PASSWORD, sign_up
from tests.console.conftest import ConsoleClient, csrf_of, session_cookie


def test_signing_in_sets_an_httponly_samesite_cookie_on_the_console_path(app, tenant):
    client = app.test_client()
    csrf = csrf_of(client)
    answer = client.post("/app/sign-in", data={"email": tenant.email, "password": PASSWORD,
                                               "csrf_token": csrf})

    assert answer.status_code == 303 and answer.headers["Location"].endswith("/app/")
    cookie = next(c for c in answer.headers.getlist("Set-Cookie")
                  if c.startswith("codex32_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/app" in cookie


def test_a_page_without_a_session_redirects_to_sign_in(client):
    answer = client.get("/app/bots")

    assert answer.status_code == 302
    assert "/app/sign-in?next=/app/bots" in answer.headers["Location"]


def test_a_wrong_password_shows_the_form_again_with_the_apis_message(app, tenant):
    client = app.test_client()
    csrf = csrf_of(client)
    answer = client.post("/app/sign-in", data={"email": tenant.email, "password": "nope",
                                               "csrf_token": csrf})

    assert answer.status_code == 401 and "invalid email or password" in answer.text
    assert session_cookie(client) is None


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console):
    answer = console.post("/app/sign-out", csrf=False)

    assert answer.status_code == 403 and "CSRF" in answer.text
    assert console.get("/app/bots").status_code == 200


def test_a_csrf_token_from_another_session_is_refused(app, console, tenant):
    other = ConsoleClient(app.test_client(), tenant.email, tenant.slug)

    answer = console.post("/app/sign-out", {"csrf_token": other.csrf("/app/bots")})

    assert answer.status_code == 403


def test_sign_in_itself_needs_the_forms_csrf_token(app, tenant):
    answer = app.test_client().post("/app/sign-in", data={"email": tenant.email,
                                                          "password": PASSWORD})

    assert answer.status_code == 403


def test_signing_out_revokes_the_sign_in_server_side(console):
    token = session_cookie(console.client)
    answer = console.post("/app/sign-out")

    assert answer.status_code == 303
    # The stolen cookie of a signed-out session opens nothing.
    console.client.set_cookie("codex32_console", token, path="/app")
    assert console.get("/app/bots").status_code == 302


def test_signing_in_over_a_session_revokes_the_one_it_replaces(app, console, tenant):
    member = tenant.add_member("viewer")
    replaced = session_cookie(console.client)

    answer = console.post("/app/sign-in", {"email": member["email"], "password": PASSWORD,
                                           "workspace": tenant.slug})

    assert answer.status_code == 303
    assert "Role: <strong>viewer</strong>" in console.get("/app/bots").text
    # The browser no longer holds the admin's sign-in; a copy of it opens nothing either.
    other = app.test_client()
    other.set_cookie("codex32_console", replaced, path="/app")
    assert other.get("/app/bots").status_code == 302


def test_the_layout_shows_the_role_and_offers_only_allowed_entries(app, tenant):
    viewer = tenant.add_member("viewer")
    page = ConsoleClient(app.test_client(), viewer["email"], tenant.slug).get("/app/bots").text

    assert "Role: <strong>viewer</strong>" in page
    assert 'href="/app/runs"' in page and 'href="/app/builder"' not in page
    assert 'href="/app/admin"' not in page and "New bot" not in page


def test_switching_workspaces_moves_the_session_and_revokes_the_old_one(app, tenant):
    other = sign_up(app.test_client(), email=None)
    invited = other.call("POST", "/api/v1/invitations", json={"email": tenant.email,
                                                               "role": "viewer"})
    assert invited.status_code == 201, invited.json
    from tests.conftest import MAILBOX

    accepted = app.test_client().post(
        f"/api/v1/invitations/{MAILBOX.token_for(tenant.email)}/accept",
        json={"password": PASSWORD})
    assert accepted.status_code == 200, accepted.json
    console = ConsoleClient(app.test_client(), tenant.email, tenant.slug)
    old = session_cookie(console.client)

    answer = console.post("/app/workspace", {"workspace": other.slug})

    assert answer.status_code == 303
    assert "Role: <strong>viewer</strong>" in console.get("/app/bots").text
    stale = app.test_client()
    stale.set_cookie("codex32_console", old, path="/app")
    assert stale.get("/app/bots").status_code == 302


def test_switching_to_a_workspace_one_is_not_a_member_of_is_refused(app, console):
    stranger = sign_up(app.test_client())

    answer = console.post("/app/workspace", {"workspace": stranger.slug})

    assert answer.status_code == 404
    assert console.get("/app/bots").status_code == 200  # still signed in where it was


def test_after_sign_in_the_console_never_redirects_to_another_site(app, tenant):
    client = app.test_client()
    csrf = csrf_of(client)
    for target in ("https://evil.example/app", "//evil.example/app", "/api/v1/bots"):
        answer = client.post("/app/sign-in", data={"email": tenant.email, "password": PASSWORD,
                                                   "csrf_token": csrf, "next": target})
        assert answer.headers["Location"].endswith("/app/"), target
        csrf = csrf_of(client)


def test_a_next_address_with_control_characters_goes_home_instead_of_failing(app, tenant):
    client = app.test_client()
    for target in ("/app/\r\nSet-Cookie: x=1", "/app/bots\n", "/app/\x00", "/\t/evil.example/app"):
        answer = client.post("/app/sign-in", data={"email": tenant.email, "password": PASSWORD,
                                                   "csrf_token": csrf_of(client),
                                                   "next": target})
        assert answer.status_code == 303, (target, answer.status_code)
        assert answer.headers["Location"].endswith("/app/"), target
        assert "x=1" not in str(answer.headers)


def test_console_pages_are_sent_with_a_strict_content_security_policy(console):
    answer = console.get("/app/bots")

    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "htmx.min.js" in answer.text and "//" not in answer.text.split("htmx.min.js")[0][-80:]


def test_an_address_no_page_has_answers_the_consoles_error_page_not_json(app, console):
    # A mistyped console address (or a method a page does not take) is answered by routing,
    # before any console view runs: it is still a page for a browser, never the API's JSON.
    for client, path, status in ((console.client, "/app/no-such-page", 404),
                                 (app.test_client(), "/app/runs/not-a-uuid", 404),
                                 (console.client, "/app/workspace", 405)):
        answer = client.get(path)

        assert answer.status_code == status, (path, answer.status_code)
        assert answer.mimetype == "text/html", (path, answer.mimetype, answer.text[:200])
        assert f'data-status="{status}"' in answer.text and "Back to the console" in answer.text
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"
    fragment = console.get("/app/no-such-page", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and fragment.text.lstrip().startswith('<div class="error"')
    assert console.get("/app/bots").status_code == 200
    assert app.test_client().get("/api/v1/no-such-route").mimetype == "application/json"


def test_an_error_page_that_cannot_be_drawn_falls_back_to_the_json_shape(app, monkeypatch):
    from codex32.console import blueprint

    def broken(*args, **kwargs):
        raise RuntimeError("the template is gone")

    monkeypatch.setattr(blueprint, "_page", broken)
    answer = app.test_client().get("/app/no-such-page")

    assert answer.status_code == 404 and answer.json["code"] == 404


def test_a_password_is_reset_from_the_console_and_every_earlier_session_ends(app, console,
                                                                              tenant):
    client = app.test_client()
    assert "/app/password-reset" in client.get("/app/sign-in").text
    csrf = csrf_of(client, "/app/password-reset")
    asked = client.post("/app/password-reset", data={"email": tenant.email, "csrf_token": csrf})
    assert asked.status_code == 200 and "a password reset token was sent" in asked.text
    assert background.wait_idle(5)
    token = MAILBOX.token_for(tenant.email)

    weak = client.post("/app/password-reset/confirm",
                       data={"token": token, "password": "short", "csrf_token": csrf})
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    done = client.post("/app/password-reset/confirm", data={
        "token": token, "password": "a brand new passphrase 7", "csrf_token": csrf})

    assert done.status_code == 200 and "password changed" in done.text
    assert console.get("/app/bots").status_code == 302  # the earlier session ended
    assert client.post("/app/password-reset/confirm", data={
        "token": token, "password": "a brand new passphrase 7",
        "csrf_token": csrf}).status_code == 400
    assert client.post("/app/password-reset", data={"email": tenant.email}).status_code == 403
