"""Attacks on builder conversations: another workspace's ids answer 404 on every endpoint; a
viewer reads but never writes; another member reads but cannot continue the creator's."""

from __future__ import annotations

import pytest

from tests.builder.conftest import start

BASE = "/api/v1/builder/conversations"
WRITES = [("POST", "/messages", {"content": "hijack"}), ("POST", "/generate", None),
          ("POST", "/accept", {}), ("DELETE", "", None)]
READS = [("GET", "", None), ("GET", "/events", None)]


@pytest.fixture()
def conversation(tenant) -> str:
    return start(tenant, message="Every morning check https://example.com")["conversation_id"]


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES + READS)
def test_another_workspace_gets_404_on_every_endpoint(tenant, other_tenant, conversation,
                                                      method, suffix, body):
    response = other_tenant.call(method, f"{BASE}/{conversation}{suffix}", json=body)
    assert response.status_code == 404, response.json
    assert conversation not in str(other_tenant.call("GET", BASE).json)
    assert tenant.call("GET", f"{BASE}/{conversation}").json["turns"][-1]["role"] == \
        "assistant"  # untouched


def test_another_workspace_cannot_refine_this_workspaces_bot(tenant, other_tenant):
    bot = tenant.create_bot()
    response = other_tenant.call("POST", BASE, json={"bot_id": bot["id"]})
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
def test_a_viewer_reads_but_cannot_write(tenant, conversation, method, suffix, body):
    viewer = tenant.add_member("viewer")
    call = tenant.client.open
    assert call(f"{BASE}/{conversation}", method="GET",
                headers=viewer["headers"]).status_code == 200
    assert call(BASE, method="POST", json={"message": "mine"},
                headers=viewer["headers"]).status_code == 403
    response = call(f"{BASE}/{conversation}{suffix}", method=method, json=body,
                    headers=viewer["headers"])
    assert response.status_code == 403, response.json


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
def test_another_member_cannot_write_the_creators_conversation(tenant, conversation, method,
                                                               suffix, body):
    member = tenant.add_member("user")
    response = tenant.client.open(f"{BASE}/{conversation}{suffix}", method=method, json=body,
                                  headers=member["headers"])
    assert response.status_code == 403, response.json
    assert "another member" in response.json["message"]


def test_delete_removes_the_turns_and_is_audited(tenant, conversation, superuser):
    assert tenant.call("DELETE", f"{BASE}/{conversation}").status_code == 204
    assert tenant.call("GET", f"{BASE}/{conversation}").status_code == 404
    assert superuser.execute("SELECT count(*) FROM builder_turns WHERE conversation_id = %s",
                             (conversation,)).fetchone()[0] == 0
    actions = [e["action"] for e in tenant.call("GET", "/api/v1/audit-logs").json["items"]]
    assert "builder.conversation.delete" in actions
