"""Audit completeness: every mutating endpoint leaves exactly one audit row, with the actor,
request id and address, and never a secret. Parametrized over the URL map."""

from __future__ import annotations

import re
import uuid

import pytest

from codex32.runtime import background
from tests.conftest import MAILBOX, PASSWORD

CODE = "def main(event, context):\n    return 1\n"
NOT_AUDITED = {
    "oidc.callback": "audited as auth.login in the workspace it signs in to, like "
                     "auth.token; needs a provider: tests/oidc/test_sign_in.py checks the row",
    "oidc.callback_form_post": "as above",
    "auth.refresh": "token rotation changes no workspace data",
    "plugins.test_provider": "a health check (or a notifier's test notification) changes "
                             "no workspace data",
    "llm.chat": "an LLM call is recorded in the usage ledger (llm_usage), not the audit log",
    "openai.chat_completions": "an LLM call is recorded in the usage ledger",
    "openai.embeddings": "an embedding call is recorded in the usage ledger",
    "suggestions.ask_for_suggestions": "stores nothing; its model call is recorded in the usage "
                                       "ledger",
    "collections.ask": "a question reads the collection; its LLM call is in the usage ledger",
}


def _bot(t):
    return t.create_bot(f"audited-{uuid.uuid4().hex[:6]}", code=CODE)


def _member(t):
    return t.add_member("user")


MUTATIONS = {
    "llm.put_budgets": ("llm_budgets.replace", lambda t: t.call(
        "PUT", "/api/v1/budgets", json={"budgets": [
            {"scope": "workspace", "period": "day", "hard_limit_usd": "5"}]})),
    "workspaces.sign_up": ("workspace.create", lambda t: t.client.post(
        "/api/v1/workspaces", json={"name": "Another", "admin_email": t.email,
                                    "admin_password": PASSWORD})),
    "workspaces.update_workspace": ("workspace.update", lambda t: t.call(
        "PATCH", "/api/v1/workspace", json={"name": "New name"})),
    "auth.token": ("auth.login", lambda t: t.client.post(
        "/api/v1/auth/token", json={"email": t.email, "password": PASSWORD})),
    "oidc.put_provider": ("oidc_provider.create", lambda t: t.call(
        "PUT", "/api/v1/oidc-providers/audited", json={
            "discovery_url": "https://idp.example", "client_id": "c",
            "client_secret": "audited-secret"})),
    "auth.revoke": ("auth.revoke", lambda t: t.client.post("/api/v1/auth/revoke",
                                                           headers=t.headers)),
    "auth.switch": ("auth.login", lambda t: t.client.post(
        "/api/v1/auth/switch", json={"workspace": t.slug},
        headers={"Authorization": f"Bearer {t.refresh_token}"})),
    "auth.request_password_reset": ("account.password_reset_request", lambda t: _settled(
        t.client.post("/api/v1/auth/password-reset", json={"email": t.email}))),
    "auth.confirm_password_reset": ("account.password_reset", None),
    "auth.verify": ("account.verify", None),
    "auth.resend_verification": ("account.verification_resend", None),
    "members.invite": ("invitation.create", lambda t: t.call(
        "POST", "/api/v1/invitations", json={"email": "new@example.com", "role": "user"})),
    "members.accept": ("invitation.accept", None),
    "members.withdraw_invitation": ("invitation.withdraw", None),
    "members.change_role": ("member.update", None),
    "members.remove_member": ("member.delete", None),
    "api_keys.create_key": ("api_key.create", lambda t: t.call(
        "POST", "/api/v1/api-keys", json={"name": "audited", "role": "user"})),
    "api_keys.delete_key": ("api_key.delete", None),
    "bots.create_bot": ("bot.create", lambda t: t.call(
        "POST", "/api/v1/bots", json={"name": "audited", "code": CODE})),
    "bots.update_bot": ("bot.update", None),
    "bots.delete_bot": ("bot.delete", None),
    "versions.create_version": ("version.create", None),
    "versions.rollback": ("bot.rollback", None),
    "plugins.put_provider": ("provider.update", lambda t: t.call(
        "PUT", "/api/v1/providers/embedder/hashing", json={"config": {"dimension": 64}})),
    "plugins.delete_provider": ("provider.delete", None),
    "executions.create_execution": ("execution.create", None),
    "executions.cancel_execution": ("execution.cancel", None),
    "schedules.put_schedule": ("schedule.update", None),
    "schedules.delete_schedule": ("schedule.delete", None),
    "secrets.put_secret": ("secret.create", lambda t: t.call(
        "PUT", "/api/v1/secrets/AUDITED", json={"value": "audited-value"})),
    "secrets.delete_secret": ("secret.delete", None),
    "oidc.delete_provider": ("oidc_provider.delete", None),
    "secrets.put_bot_secret": ("secret.create", None),
    "secrets.delete_bot_secret": ("secret.delete", None),
    "builder.start": ("builder.conversation.create", lambda t: t.call(
        "POST", "/api/v1/builder/conversations", json={"message": "Check https://x.org"})),
    "builder.add_message": ("builder.conversation.message", None),
    "builder.delete_conversation": ("builder.conversation.delete", None),
    "builder.generate": ("builder.generate", None),
    "builder.accept": ("bot.create", None),  # the bot's row names the conversation
    "collections.create_collection": ("collection.create", lambda t: t.call(
        "POST", "/api/v1/collections", json={"name": "audited"})),
    "collections.update_collection": ("collection.update", None),
    "collections.delete_collection": ("collection.delete", None),
    "collections.upload_document": ("document.create", None),
    "collections.delete_document": ("document.delete", None),
    "workspaces.erase_knowledge": ("knowledge.erase", lambda t: t.call(
        "DELETE", "/api/v1/workspace/knowledge")),
}


def _prepared(endpoint, t):
    """For endpoints that need a resource first: create it, return the mutating call."""
    if endpoint == "auth.confirm_password_reset":
        _settled(t.client.post("/api/v1/auth/password-reset", json={"email": t.email}))
        token = MAILBOX.token_for(t.email)
        return lambda: t.client.post("/api/v1/auth/password-reset/confirm",
                                     json={"token": token, "password": PASSWORD + " anew"})
    if endpoint == "members.accept":
        email = f"{uuid.uuid4().hex[:8]}@ex.com"
        t.call("POST", "/api/v1/invitations", json={"email": email, "role": "user"})
        token = MAILBOX.token_for(email)
        return lambda: t.client.post(f"/api/v1/invitations/{token}/accept",
                                     json={"password": PASSWORD})
    if endpoint == "members.withdraw_invitation":
        invited = t.call("POST", "/api/v1/invitations",
                         json={"email": f"{uuid.uuid4().hex[:8]}@ex.com", "role": "user"})
        return lambda: t.call("DELETE", f"/api/v1/invitations/{invited.json['id']}")
    if endpoint in ("members.change_role", "members.remove_member"):
        user_id = _member(t)["user_id"]
        if endpoint == "members.change_role":
            return lambda: t.call("PATCH", f"/api/v1/members/{user_id}", json={"role": "viewer"})
        return lambda: t.call("DELETE", f"/api/v1/members/{user_id}")
    if endpoint == "plugins.delete_provider":
        t.call("PUT", "/api/v1/providers/notifier/log", json={"config": {}})
        return lambda: t.call("DELETE", "/api/v1/providers/notifier/log")
    if endpoint == "oidc.delete_provider":
        t.call("PUT", "/api/v1/oidc-providers/gone", json={
            "discovery_url": "https://idp.example", "client_id": "c"})
        return lambda: t.call("DELETE", "/api/v1/oidc-providers/gone")
    if endpoint == "secrets.delete_secret":
        t.call("PUT", "/api/v1/secrets/GONE", json={"value": "gone-value"})
        return lambda: t.call("DELETE", "/api/v1/secrets/GONE")
    if endpoint == "api_keys.delete_key":
        key_id = t.call("POST", "/api/v1/api-keys", json={"name": "gone", "role": "user"}
                        ).json["id"]
        return lambda: t.call("DELETE", f"/api/v1/api-keys/{key_id}")
    if endpoint.startswith("builder."):
        return _builder_call(endpoint, t)
    if endpoint.startswith("collections."):
        return _knowledge(endpoint, t)
    bot_id = _bot(t)["id"]
    if endpoint == "executions.cancel_execution":  # no worker runs here: it stays queued
        execution_id = t.call("POST", f"/api/v1/bots/{bot_id}/executions", json={}).json["id"]
        return lambda: t.call("POST", f"/api/v1/executions/{execution_id}/cancel")
    if endpoint == "secrets.delete_bot_secret":
        t.call("PUT", f"/api/v1/bots/{bot_id}/secrets/GONE", json={"value": "gone-value"})
        return lambda: t.call("DELETE", f"/api/v1/bots/{bot_id}/secrets/GONE")
    if endpoint == "schedules.delete_schedule":
        t.call("PUT", f"/api/v1/bots/{bot_id}/schedule", json={"cron": "0 * * * *"})
        return lambda: t.call("DELETE", f"/api/v1/bots/{bot_id}/schedule")
    return {
        "bots.update_bot": lambda: t.call("PATCH", f"/api/v1/bots/{bot_id}",
                                          json={"code": CODE + "# v2\n", "status": "active"}),
        "bots.delete_bot": lambda: t.call("DELETE", f"/api/v1/bots/{bot_id}"),
        "versions.create_version": lambda: t.call("POST", f"/api/v1/bots/{bot_id}/versions",
                                                  json={"code": CODE}),
        "versions.rollback": lambda: t.call("POST", f"/api/v1/bots/{bot_id}/rollback",
                                            json={"version": 1}),
        "executions.create_execution": lambda: t.call(
            "POST", f"/api/v1/bots/{bot_id}/executions", json={"input": {"n": 1}}),
        "secrets.put_bot_secret": lambda: t.call(
            "PUT", f"/api/v1/bots/{bot_id}/secrets/AUDITED", json={"value": "audited-value"}),
        "schedules.put_schedule": lambda: t.call(
            "PUT", f"/api/v1/bots/{bot_id}/schedule",
            json={"cron": "*/5 * * * *", "timezone": "Europe/Paris"}),
    }[endpoint]


def _builder_call(endpoint, t):
    """A conversation ready to generate (or generated, for accept), and the call."""
    from codex32 import runtime
    from codex32.execution import builder_jobs

    base = "/api/v1/builder/conversations/" + t.call(
        "POST", "/api/v1/builder/conversations",
        json={"message": "Every morning check https://example.com and return the result"}
    ).json["conversation_id"]
    if endpoint == "builder.accept":
        job_id = t.call("POST", f"{base}/generate").json["job_id"]
        with t.client.application.app_context():  # the job's body, as a worker runs it
            builder_jobs.run(runtime.current(), t.workspace_id, base.rsplit("/", 1)[1],
                             job_id)
        return lambda: t.call("POST", f"{base}/accept", json={})
    return {"builder.add_message": lambda: t.call("POST", f"{base}/messages",
                                                  json={"content": "hourly instead"}),
            "builder.delete_conversation": lambda: t.call("DELETE", base),
            "builder.generate": lambda: t.call("POST", f"{base}/generate")}[endpoint]


def _knowledge(endpoint, t):
    collection = t.call("POST", "/api/v1/collections", json={"name": "audited"}).json["id"]
    documents = f"/api/v1/collections/{collection}/documents"
    if endpoint == "collections.delete_document":
        document = t.call("POST", documents, json={"title": "gone", "text": "gone"}).json["id"]
        return lambda: t.call("DELETE", f"{documents}/{document}")
    return {
        "collections.update_collection": lambda: t.call(
            "PATCH", f"/api/v1/collections/{collection}", json={"description": "audited"}),
        "collections.delete_collection": lambda: t.call(
            "DELETE", f"/api/v1/collections/{collection}"),
        "collections.upload_document": lambda: t.call(
            "POST", documents, json={"title": "audited", "text": "audited text"}),
    }[endpoint]


def _settled(response):
    """``response``, once the work it left for after it (a reset's lookup and mail) is done."""
    assert background.wait_idle(5)
    return response


def _pending_sign_up(client) -> tuple[str, str]:
    """A sign-up waiting for verification: its workspace id and its admin's address."""
    email = f"pending-{uuid.uuid4().hex[:8]}@ex.com"
    response = client.post("/api/v1/workspaces", json={
        "name": f"Pending {email}", "admin_email": email, "admin_password": PASSWORD})
    assert response.status_code == 202, response.json
    return response.json["workspace"]["id"], email


# Endpoints whose row lands in the workspace of a pending sign-up, not the caller's.
IN_THE_SIGN_UP_WORKSPACE = {
    "auth.verify": lambda client, email: client.post(
        "/api/v1/auth/verify", json={"token": MAILBOX.token_for(email), "password": PASSWORD}),
    "auth.resend_verification": lambda client, email: client.post(
        "/api/v1/auth/verify/resend", json={"email": email}),
}


def _audit_rows(superuser, workspace_id):
    return superuser.execute(
        "SELECT action, actor_type, actor_id, request_id, ip, changes::text FROM audit_logs "
        "WHERE workspace_id = %s ORDER BY created_at", (workspace_id,)).fetchall()


# API v2's mutations call v1's services: each is audited exactly like its v1 twin, tested by
# sending the twin's request to the v2 path.
V2_TWINS = {f"v2_{endpoint}": endpoint for endpoint in (
    "bots.create_bot", "bots.update_bot", "bots.delete_bot", "versions.create_version",
    "versions.rollback", "executions.create_execution", "executions.cancel_execution",
    "schedules.put_schedule", "schedules.delete_schedule", "members.change_role",
    "members.remove_member", "api_keys.create_key", "api_keys.delete_key")}


def _through_v2(tenant, perform):
    """``perform`` with its request (not its set-up) sent to the v2 twin of its v1 path."""
    def perform_in_v2():
        original = tenant.call
        tenant.call = lambda method, path, **kwargs: original(
            method, path.replace("/api/v1/", "/api/v2/", 1), **kwargs)
        try:
            return perform()
        finally:
            tenant.call = original
    return perform_in_v2


def test_every_mutating_endpoint_is_in_the_audit_table(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v") or not rule.methods & {"POST", "PUT", "PATCH",
                                                                      "DELETE"}:
            continue
        assert (rule.endpoint in MUTATIONS or rule.endpoint in NOT_AUDITED
                or rule.endpoint in V2_TWINS), rule.endpoint


@pytest.mark.parametrize("endpoint", sorted(MUTATIONS) + sorted(V2_TWINS))
def test_mutation_writes_exactly_one_audit_row(tenant, superuser, endpoint):
    twin = V2_TWINS.get(endpoint)
    action, call = MUTATIONS[twin or endpoint]
    if endpoint in IN_THE_SIGN_UP_WORKSPACE:
        workspace_id, email = _pending_sign_up(tenant.client)
        before = _audit_rows(superuser, workspace_id)
        response = IN_THE_SIGN_UP_WORKSPACE[endpoint](tenant.client, email)
        assert response.status_code < 300, response.json
        added = _audit_rows(superuser, workspace_id)[len(before):]
        assert [row[0] for row in added] == [action]
        assert added[0][1] == "user" and added[0][3] == response.headers["X-Request-ID"]
        assert MAILBOX.token_for(email) not in added[0][5]
        return
    perform = (lambda: call(tenant)) if call else _prepared(twin or endpoint, tenant)
    if twin:
        perform = _through_v2(tenant, perform)
    before = _audit_rows(superuser, tenant.workspace_id)
    response = perform()
    assert response.status_code < 300, response.json
    assert response.headers.get("API-Version") == ("2" if twin else "1")
    after = _audit_rows(superuser, tenant.workspace_id)
    if endpoint == "workspaces.sign_up":  # lands in the new workspace
        new_rows = _audit_rows(superuser, response.json["workspace"]["id"])
        assert [r[0] for r in new_rows] == ["workspace.create"]
        assert after == before
        return
    added = after[len(before):]
    assert [row[0] for row in added] == [action]
    _action, actor_type, actor_id, request_id, ip, changes = added[0]
    assert actor_type in ("user", "api_key") and actor_id is not None
    assert request_id and request_id == response.headers["X-Request-ID"]
    assert ip == "127.0.0.1"
    assert PASSWORD not in changes and "audited-value" not in changes
    assert not re.search(r"c32_[0-9a-f]{8}_", changes)  # a prefix is fine, a whole key is not


def test_bot_creation_with_code_writes_one_row_with_a_code_digest(tenant, superuser):
    before = len(_audit_rows(superuser, tenant.workspace_id))
    tenant.create_bot("digest", code=CODE)
    rows = _audit_rows(superuser, tenant.workspace_id)[before:]
    assert len(rows) == 1
    assert "code_sha256" in rows[0][5] and CODE not in rows[0][5]


def test_failed_mutation_writes_no_audit_row(tenant, superuser):
    before = _audit_rows(superuser, tenant.workspace_id)
    assert tenant.call("POST", "/api/v1/bots", json={"name": "bad", "code": "def ("}
                       ).status_code == 422
    tenant.create_bot("dupe")
    mid = _audit_rows(superuser, tenant.workspace_id)
    assert tenant.call("POST", "/api/v1/bots", json={"name": "dupe"}).status_code == 409
    assert len(mid) == len(before) + 1
    assert _audit_rows(superuser, tenant.workspace_id) == mid


def test_audit_log_endpoint_filters(tenant):
    bot = tenant.create_bot("filtered", code=CODE)
    tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"status": "paused"})
    page = tenant.call("GET", f"/api/v1/audit-logs?resource_id={bot['id']}").json
    assert [e["action"] for e in page["items"]] == ["bot.update", "bot.create"]
    only = tenant.call("GET", "/api/v1/audit-logs?action=bot.update").json
    assert {e["action"] for e in only["items"]} == {"bot.update"}
    mine = tenant.call("GET", f"/api/v1/audit-logs?user_id={tenant.user_id}").json
    assert mine["total"] >= 3
    change = page["items"][0]["changes"]
    assert change["status"] == {"before": "draft", "after": "paused"}


def test_api_key_actor_is_recorded(tenant, superuser):
    key = tenant.call("POST", "/api/v1/api-keys", json={"name": "bot-maker", "role": "user"}
                      ).json
    tenant.client.post("/api/v1/bots", json={"name": "by-key"}, headers={"X-API-Key": key["key"]})
    last = _audit_rows(superuser, tenant.workspace_id)[-1]
    assert last[0] == "bot.create" and last[1] == "api_key" and str(last[2]) == key["id"]


def test_audit_total_is_right_on_a_page_past_the_end(tenant):
    tenant.create_bot("counted")
    first = tenant.call("GET", "/api/v1/audit-logs?page_size=1").json
    past = tenant.call("GET", "/api/v1/audit-logs?page_size=1&page=999").json
    assert first["total"] >= 2 and len(first["items"]) == 1
    assert past["items"] == [] and past["total"] == first["total"]


def test_the_input_keys_an_audit_row_names_are_bounded_in_number_and_length(tenant, superuser):
    # A run's (or a schedule's) input keys are the tenant's: 50 keys of 5,000 characters
    # each made one audit row of a quarter of a megabyte.
    bot = tenant.create_bot()
    long_keys = {f"{index:02d}" + "k" * 5_000: index for index in range(60)}
    run = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"input": long_keys})
    assert run.status_code == 202, run.json
    scheduled = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule",
                            json={"cron": "0 * * * *", "input": long_keys})
    assert scheduled.status_code in (200, 201), scheduled.json
    for action in ("execution.create", "schedule.update"):
        (changes,) = superuser.execute(
            "SELECT changes FROM audit_logs WHERE workspace_id = %s AND action = %s",
            (tenant.workspace_id, action)).fetchone()
        keys = changes["input_keys"]
        keys = keys["after"] if isinstance(keys, dict) else keys
        assert len(keys) == 50 and all(len(key) <= 100 for key in keys), action
        assert keys[0].startswith("00k")
