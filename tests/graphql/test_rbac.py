"""Every GraphQL root field is refused to exactly the roles its REST twin refuses: the
permission is read from the twin's ``@requires``, so the two cannot drift. A new root field
fails here until it names its twin."""

from __future__ import annotations

import json
import uuid

import pytest

from codex32.api.graphql.schema import build
from codex32.auth.rbac import Role, permissions_of
from codex32.config import Settings
from tests.graphql.conftest import CODE, error_codes, gql

R = str(uuid.uuid4())  # no resource anywhere: an allowed call answers NOT_FOUND
# field -> (REST twin endpoint, an operation that writes nothing when allowed)
TWINS: dict[str, tuple[str, str]] = {
    "workspace": ("workspaces.get_workspace", "{ workspace { id } }"),
    "members": ("members.list_members", "{ members { role } }"),
    "bots": ("bots.list_bots", "{ bots { nodes { id } } }"),
    "bot": ("bots.get_bot", f'{{ bot(id: "{R}") {{ id }} }}'),
    "executions": ("executions.list_executions", "{ executions { nodes { id } } }"),
    "execution": ("executions.get_execution", f'{{ execution(id: "{R}") {{ id }} }}'),
    "usage": ("llm.usage", "{ usage { groupBy } }"),
    "budgets": ("llm.list_budgets", "{ budgets { id } }"),
    "builderConversations": ("builder.list_conversations",
                             "{ builderConversations { nodes { id } } }"),
    "builderConversation": ("builder.get_conversation",
                            f'{{ builderConversation(id: "{R}") {{ id }} }}'),
    "search": ("search.search", '{ search(q: "anything") { query } }'),
    "createBot": ("bots.create_bot", 'mutation { createBot(input: {name: " "}) { id } }'),
    "updateBot": ("bots.update_bot",
                  f'mutation {{ updateBot(id: "{R}", input: {{name: "x"}}) {{ id }} }}'),
    "deleteBot": ("bots.delete_bot", f'mutation {{ deleteBot(id: "{R}") }}'),
    "createVersion": ("versions.create_version",
                      f'mutation {{ createVersion(botId: "{R}", code: {json.dumps(CODE)}) '
                      '{ id } }'),
    "rollbackBot": ("versions.rollback",
                    f'mutation {{ rollbackBot(botId: "{R}", version: 1) {{ id }} }}'),
    "runBot": ("executions.create_execution", f'mutation {{ runBot(botId: "{R}") {{ created }} }}'),
    "cancelExecution": ("executions.cancel_execution",
                        f'mutation {{ cancelExecution(id: "{R}") {{ ended }} }}'),
    "putSchedule": ("schedules.put_schedule",
                    f'mutation {{ putSchedule(botId: "{R}", input: {{cron: "* * * * *"}}) '
                    '{ cron } }'),
    "deleteSchedule": ("schedules.delete_schedule", f'mutation {{ deleteSchedule(botId: "{R}") }}'),
    "inviteMember": ("members.invite",
                     'mutation { inviteMember(email: "not-an-address", role: "viewer") { id } }'),
    "changeMemberRole": ("members.change_role",
                         f'mutation {{ changeMemberRole(userId: "{R}", role: "viewer") '
                         '{ role } }'),
    "removeMember": ("members.remove_member", f'mutation {{ removeMember(userId: "{R}") }}'),
    "withdrawInvitation": ("members.withdraw_invitation",
                           f'mutation {{ withdrawInvitation(id: "{R}") }}'),
}


def test_every_root_field_names_its_rest_twin():
    schema = build(Settings())._schema
    fields = {name for root in (schema.query_type, schema.mutation_type) if root
              for name in root.fields}
    assert fields == set(TWINS), f"name the REST twin of {sorted(fields ^ set(TWINS))}"


@pytest.fixture()
def roles(tenant):
    headers = {Role.ADMIN: tenant.headers,
               Role.API_USER: {"X-API-Key": tenant.api_key("api_user")}}
    for role in (Role.USER, Role.VIEWER):
        headers[role] = tenant.add_member(role.value)["headers"]
    return headers


def test_each_role_is_refused_exactly_where_rest_refuses_it(app, tenant, roles):
    checked = 0
    for field, (endpoint, operation) in sorted(TWINS.items()):
        permission = app.view_functions[endpoint].required_permission
        for role, headers in roles.items():
            response = gql(tenant.client, headers, operation)
            assert response.status_code == 200, (field, role, response.json)
            forbidden = "FORBIDDEN" in error_codes(response)
            assert forbidden == (permission not in permissions_of(role)), (
                field, role.value, permission.value, response.json)
            checked += 1
    assert checked == len(TWINS) * 4
    assert tenant.call("GET", "/api/v1/bots").json["total"] == 0  # nothing was written
