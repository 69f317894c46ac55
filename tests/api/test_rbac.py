"""The role x endpoint matrix: every guarded endpoint answers 403 exactly when the role lacks
the permission the route declares. Parametrized over the URL map, so new endpoints join."""

from __future__ import annotations

import re
import uuid

import pytest

from codex32.auth.rbac import ROLE_PERMISSIONS, Permission, Role

PUBLIC = {"workspaces.sign_up", "auth.token", "auth.refresh", "auth.revoke", "auth.switch",
          "members.accept",
          "auth.verify", "auth.resend_verification", "oidc.list_sign_in_providers",
          "auth.request_password_reset", "auth.confirm_password_reset",
          "oidc.authorize", "oidc.callback", "oidc.callback_form_post",
          # The OpenAPI documents and docs pages of each version (codex32.api.openapi).
          "api-docs-v1.openapi.json", "api-docs-v1.docs", "api-docs-v1.redoc",
          "v2-api-docs.openapi_json", "v2-api-docs.openapi_swagger_ui",
          "v2-api-docs.openapi_redoc"}


def guarded_routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        permission = getattr(view, "required_permission", None)
        if rule.rule.startswith("/api/v") and rule.endpoint not in PUBLIC:
            assert permission is not None, f"{rule.endpoint} has no @requires"
        if permission is None or not rule.rule.startswith("/api/"):
            continue  # the console's pages have their own matrix (tests/console)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, permission


def _url(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>",
                  lambda m: "1" if m.group(1) == "number" else (
                      "llm" if m.group(1) == "kind" else str(uuid.uuid4())), rule.rule)


@pytest.fixture()
def principals(tenant):
    """Headers for one principal of each role (users for people roles, a key for api_user)."""
    headers = {Role.ADMIN: tenant.headers}
    for role in (Role.USER, Role.VIEWER):
        headers[role] = tenant.add_member(role.value)["headers"]
    headers[Role.API_USER] = {"X-API-Key": tenant.api_key("api_user")}
    return headers


def test_every_role_gets_403_exactly_where_its_permissions_end(app, client, principals):
    checked = 0
    for rule, method, permission in guarded_routes(app):
        for role, headers in principals.items():
            allowed = permission in ROLE_PERMISSIONS[role]
            body = {} if method in ("POST", "PUT", "PATCH") else None
            response = client.open(_url(rule), method=method, headers=headers, json=body)
            assert response.status_code != 401, (role, method, rule.rule)
            if allowed:
                assert response.status_code != 403, (role, method, rule.rule, response.json)
            else:
                assert response.status_code == 403, (role, method, rule.rule)
                body = response.json
                assert permission.value in body.get("message", body.get("detail", (
                    body.get("error") or {}).get("message", "")))  # v1 | v2 | OpenAI's
            checked += 1
    assert checked >= 4 * 15


def test_api_keys_carry_any_role(tenant):
    key = tenant.api_key("admin")
    assert tenant.client.get("/api/v1/api-keys", headers={"X-API-Key": key}).status_code == 200


def test_role_map_covers_every_permission_for_admin():
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert Permission.VIEW_AUDIT not in ROLE_PERMISSIONS[Role.USER]
    assert Permission.MANAGE_USERS not in ROLE_PERMISSIONS[Role.API_USER]


def test_the_documented_role_map_is_the_real_one():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    documented = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in {p.value for p in Permission}:
            documented[cells[0]] = {role for role, cell in zip(Role, cells[1:], strict=True)
                                    if cell == "✓"}
    assert set(documented) == {p.value for p in Permission}
    for permission, roles in documented.items():
        assert roles == {r for r in Role if Permission(permission) in ROLE_PERMISSIONS[r]}, \
            permission
