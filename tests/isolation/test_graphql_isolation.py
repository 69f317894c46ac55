"""The isolation attacks, against /api/graphql: another workspace's ids on every field that
takes one, lists and search bound to the caller's workspace, forged credentials refused.

The schema has no global ids: every id is the resource's UUID, the same as in REST, and
another workspace's answers exactly like a missing one (null and NOT_FOUND). The attack is
driven by the schema: a new query or mutation field taking an id fails here until it has an
attack.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from codex32.api.graphql.schema import build
from codex32.config import Settings
from tests.conftest import sign_up
from tests.graphql.conftest import CODE, data_of, error_codes, gql
from tests.isolation.test_tenant_isolation import victim  # noqa: F401  # the fixture

# One operation per field taking an id: {name} placeholders are the victim's ids.
ATTACKS: dict[str, str] = {
    "Query.bot": 'query { bot(id: "{bot}") { name } }',
    "Query.execution": 'query { execution(id: "{execution}") { id input } }',
    "Query.builderConversation": 'query { builderConversation(id: "{conversation}") { id } }',
    "Query.executions": 'query { executions(botId: "{bot}") { nodes { id } } }',
    "Query.search": 'query { search(q: "secret", collection: "{collection}") '
                    '{ items { passage } } }',
    "Mutation.updateBot": 'mutation { updateBot(id: "{bot}", input: {name: "hijacked"}) '
                          '{ id } }',
    "Mutation.deleteBot": 'mutation { deleteBot(id: "{bot}") }',
    "Mutation.createVersion": 'mutation { createVersion(botId: "{bot}", code: '
                              + json.dumps(CODE) + ") { id } }",
    "Mutation.rollbackBot": 'mutation { rollbackBot(botId: "{bot}", version: 1) { id } }',
    "Mutation.runBot": 'mutation { runBot(botId: "{bot}", input: {steal: true}) { created } }',
    "Mutation.cancelExecution": 'mutation { cancelExecution(id: "{execution}") { ended } }',
    "Mutation.putSchedule": 'mutation { putSchedule(botId: "{bot}", input: '
                            '{cron: "* * * * *"}) { cron } }',
    "Mutation.deleteSchedule": 'mutation { deleteSchedule(botId: "{bot}") }',
    "Mutation.changeMemberRole": 'mutation { changeMemberRole(userId: "{member}", '
                                 'role: "viewer") { role } }',
    "Mutation.removeMember": 'mutation { removeMember(userId: "{member}") }',
    "Mutation.withdrawInvitation": 'mutation { withdrawInvitation(id: "{invitation}") }',
}
# Fields whose answer for another workspace's id is empty rather than NOT_FOUND.
EMPTY_ANSWERS = {"Query.executions"}


def _fields_taking_ids() -> list[str]:
    schema = build(Settings())._schema
    found = []
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        for name, field in root.fields.items():
            if any("UUID" in str(argument.type) for argument in field.args.values()):
                found.append(f"{root.name}.{name}")
    return found


def test_every_field_taking_an_id_has_an_attack():
    missing = sorted(set(_fields_taking_ids()) - set(ATTACKS))
    assert not missing, f"add an attack for {missing}"


def _operation(field: str, victim) -> str:  # noqa: F811
    ids = {"bot": victim.extra["bot"]["id"], "execution": victim.extra["execution"]["id"],
           "conversation": victim.extra["conversation"]["conversation_id"],
           "collection": victim.extra["collection"]["id"],
           "member": victim.extra["member"]["user_id"],
           "invitation": victim.extra["invitation"]["id"]}
    text = ATTACKS[field]
    for key, value in ids.items():
        text = text.replace("{" + key + "}", value)
    return text


def test_another_workspaces_ids_answer_like_missing_ones(client, victim):  # noqa: F811
    attacker = sign_up(client)
    for field in sorted(ATTACKS):
        response = gql(client, attacker.headers, _operation(field, victim))
        assert response.status_code == 200, (field, response.json)
        name = field.split(".")[1]
        answer = response.json["data"]
        if field in EMPTY_ANSWERS:
            assert not response.json.get("errors"), (field, response.json)
            listed = answer[name].get("nodes", answer[name].get("items"))
            assert listed == [], (field, response.json)
        else:
            assert answer == {name: None}, (field, response.json)
            assert error_codes(response) == ["NOT_FOUND"], (field, response.json)
    # B's data is untouched.
    bot = victim.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}").json
    assert bot["name"] == "crown-jewels" and bot["current_version"] == 2
    execution = victim.call("GET", f"/api/v1/executions/{victim.extra['execution']['id']}").json
    assert execution["status"] == "queued" and not execution["cancel_requested"]
    assert victim.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}/executions"
                       ).json["total"] == 1
    schedule = victim.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}/schedule").json
    assert schedule["cron"] == "0 3 * * *"
    roles = {m["user_id"]: m["role"] for m in victim.call("GET", "/api/v1/members").json}
    assert roles[victim.extra["member"]["user_id"]] == "user"
    invited = victim.call("GET", "/api/v1/invitations").json
    assert [i["id"] for i in invited] == [victim.extra["invitation"]["id"]]


def test_lists_and_search_hold_only_the_callers_workspace(client, victim):  # noqa: F811
    attacker = sign_up(client)
    attacker.create_bot("own-bot", description="secret plans of my own")
    data = data_of(gql(client, attacker.headers, """{
      bots { nodes { name executions { nodes { id } } } }
      executions { nodes { id botId } }
      builderConversations { nodes { id } }
      members { email }
      usage(groupBy: ["bot"]) { groups { bot } }
      search(q: "crown jewels secret plans") { items { passage bot document } }
    }"""))
    assert [b["name"] for b in data["bots"]["nodes"]] == ["own-bot"]
    assert data["executions"]["nodes"] == []
    assert data["builderConversations"]["nodes"] == []
    assert [m["email"] for m in data["members"]] == [attacker.email]
    text = json.dumps(data["search"])
    assert "crown" not in text and "B's" not in text
    assert victim.extra["bot"]["id"] not in json.dumps(data)


def _claims(tenant) -> dict:
    return jwt.decode(tenant.access_token, options={"verify_signature": False})


@pytest.mark.parametrize("forge", ["wrong_key", "alg_none", "expired", "other_workspace",
                                   "refresh_as_access", "garbage_key", "truncated"])
def test_forged_credentials_are_refused(client, victim, forge):  # noqa: F811
    attacker = sign_up(client)
    claims = {**_claims(attacker), "ws": victim.workspace_id}
    secret = "j" * 40  # the test app's signing key (tests/conftest.py make_settings)
    headers: dict[str, str]
    if forge == "wrong_key":
        headers = {"Authorization": "Bearer " + jwt.encode(claims, "x" * 40,
                                                             algorithm="HS256")}
    elif forge == "alg_none":
        headers = {"Authorization": "Bearer " + jwt.encode(claims, None, algorithm="none")}
    elif forge == "expired":
        old = {**_claims(victim), "exp": datetime.now(UTC) - timedelta(minutes=1)}
        headers = {"Authorization": "Bearer " + jwt.encode(old, secret, algorithm="HS256")}
    elif forge == "other_workspace":  # a real signature, but no membership there
        headers = {"Authorization": "Bearer " + jwt.encode(
            {**claims, "jti": uuid.uuid4().hex}, secret, algorithm="HS256")}
    elif forge == "refresh_as_access":
        headers = {"Authorization": f"Bearer {victim.refresh_token}"}
    elif forge == "garbage_key":
        headers = {"X-API-Key": "c32_" + "x" * 40}
    else:
        headers = {"Authorization": f"Bearer {victim.access_token[:-5]}"}
    response = gql(client, headers, "{ bots { nodes { name } } }")
    assert response.status_code == 401, (forge, response.json)
    assert "crown" not in response.get_data(as_text=True)


def test_an_api_key_reads_only_its_own_workspace(client, victim):  # noqa: F811
    attacker = sign_up(client)
    key = attacker.api_key("api_user")
    response = gql(client, {"X-API-Key": key, "X-Workspace": victim.workspace_id},
                   f'{{ bot(id: "{victim.extra["bot"]["id"]}") {{ name }} '
                   f'executions {{ nodes {{ id }} }} }}')
    assert response.json["data"] is None or response.json["data"].get("bot") is None
    assert "NOT_FOUND" in error_codes(response)
