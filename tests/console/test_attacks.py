"""Attacks on every console page, parametrized over the URL map (a new page joins the day it
is added): each role gets 403 exactly where its permissions end, and another workspace's ids
answer 404."""

from __future__ import annotations

import re
import uuid

import pytest

from codex32.auth.rbac import ROLE_PERMISSIONS, Role
from tests.conftest import sign_up
from tests.console.conftest import ConsoleClient

PEOPLE = (Role.ADMIN, Role.USER, Role.VIEWER)


def console_pages(app):
    """(rule, method, permission) of every guarded console route."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/app"):
            continue
        permission = getattr(app.view_functions[rule.endpoint], "required_permission", None)
        if permission is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, permission


def address(rule, ids: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>",
                  lambda m: ids.get(m.group(1), str(uuid.uuid4())), rule.rule)


def test_every_role_gets_403_exactly_where_its_permissions_end(app, tenant):
    sessions = {Role.ADMIN: ConsoleClient(app.test_client(), tenant.email, tenant.slug)}
    for role in (Role.USER, Role.VIEWER):
        member = tenant.add_member(role.value)
        sessions[role] = ConsoleClient(app.test_client(), member["email"], tenant.slug)
    checked = 0
    for rule, method, permission in console_pages(app):
        for role in PEOPLE:
            call = sessions[role].get if method == "GET" else sessions[role].post
            answer = call(address(rule, {}))
            signed_out = "/app/sign-in" in answer.headers.get("Location", "")
            assert answer.status_code != 401 and not signed_out, (role, method, rule.rule)
            if permission in ROLE_PERMISSIONS[role]:
                assert answer.status_code != 403, (role, method, rule.rule, answer.text[:300])
            else:
                assert answer.status_code == 403, (role, method, rule.rule)
                assert permission.value in answer.text
            checked += 1
    assert checked >= 3 * 12


def test_another_workspaces_ids_answer_404_on_every_page(app, tenant):
    bot = tenant.create_bot("victim-bot")
    started = ConsoleClient(app.test_client(), tenant.email, tenant.slug).post(
        "/app/builder", {"message": "Check https://example.com every 5 minutes"})
    ids = {"bot_id": bot["id"], "conversation_id": started.headers["Location"].rsplit("/", 1)[1]}
    attacker = sign_up(app.test_client())
    session = ConsoleClient(app.test_client(), attacker.email, attacker.slug)
    attacked = 0
    for rule, method, _permission in console_pages(app):
        if not set(rule.arguments) & set(ids):
            continue
        path = address(rule, ids) + ("?a=1&b=1" if rule.rule.endswith("/diff") else "")
        answer = session.get(path) if method == "GET" else session.post(path, {"input": "{}",
                                                                         "content": "hi"})
        assert answer.status_code == 404, (method, rule.rule, answer.status_code)
        assert "victim-bot" not in answer.text
        attacked += 1
    assert attacked >= 8


@pytest.mark.parametrize("path", ["/app/bots", "/app/builder", "/app/"])
def test_pages_without_a_session_send_the_browser_to_sign_in(client, path):
    answer = client.get(path)

    assert answer.status_code == 302 and "/app/sign-in" in answer.headers["Location"]
