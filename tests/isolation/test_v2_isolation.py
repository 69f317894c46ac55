"""Attacks on tenant isolation through API v2: lists, cursors, expand, the version header.

Every v2 endpoint with a path parameter is attacked with another workspace's ids by
``test_every_endpoint_hides_another_workspaces_resources`` (it walks the URL map).
"""

from __future__ import annotations

import base64
import json

from tests.conftest import sign_up
from tests.isolation.test_tenant_isolation import victim  # noqa: F401  (the fixture)


def _forged(cursor: str, **changes) -> str:
    encoded, _, mac = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    payload.update(changes)
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode() \
        + "." + mac


def _cursor_of(tenant) -> str:
    tenant.create_bot()
    tenant.create_bot()
    cursor = tenant.call("GET", "/api/v2/bots?limit=1").json["next_cursor"]
    assert cursor
    return cursor


def test_v2_lists_never_include_another_workspaces_rows(client, victim):  # noqa: F811
    attacker = sign_up(client)
    attacker.create_bot("mine")
    for path in ("/api/v2/bots?expand=latest_version", "/api/v2/executions?expand=bot",
                 "/api/v2/audit-logs", "/api/v2/members", "/api/v2/api-keys",
                 f"/api/v2/executions?bot_id={victim.extra['bot']['id']}"):
        response = attacker.call("GET", path)
        assert response.status_code == 200, (path, response.json)
        blob = repr(response.json)
        for secret in (victim.extra["bot"]["id"], "crown-jewels", victim.email, "b-key",
                       victim.extra["execution"]["id"]):
            assert secret not in blob, (path, secret)
    listed = attacker.call("GET", f"/api/v2/bots/{victim.extra['bot']['id']}/executions")
    assert listed.status_code == 404


def test_another_workspaces_cursor_is_refused(client, victim):  # noqa: F811
    attacker = sign_up(client)
    stolen = _cursor_of(victim)
    response = attacker.call("GET", "/api/v2/bots", query_string={"cursor": stolen})
    assert response.status_code == 400
    assert response.json["type"] == "urn:codex32:problem:malformed-request"


def test_a_cursor_forged_to_carry_another_workspaces_keys_is_refused(client, victim):  # noqa: F811
    attacker = sign_up(client)
    own = _cursor_of(attacker)
    victims_bot = victim.call("GET", f"/api/v2/bots/{victim.extra['bot']['id']}").json
    for forged in (
            _forged(own, k=[victims_bot["created_at"], victims_bot["id"]]),
            _forged(own, w=victim.workspace_id),
            _forged(_cursor_of(victim), w=attacker.workspace_id)):
        response = attacker.call("GET", "/api/v2/bots", query_string={"cursor": forged})
        assert response.status_code == 400, response.json
        assert "crown-jewels" not in repr(response.json)


def test_a_version_header_names_no_workspace(client, victim):  # noqa: F811
    attacker = sign_up(client)
    for headers in ({"Accept-Version": "2", "X-Workspace": victim.workspace_id},
                    {"Accept-Version": "1", "X-Workspace-Id": victim.workspace_id}):
        response = attacker.call("GET", f"/api/bots/{victim.extra['bot']['id']}",
                                 headers=headers)
        assert response.status_code == 404
        listed = attacker.call("GET", "/api/bots", headers=headers).json
        assert "crown-jewels" not in repr(listed)
