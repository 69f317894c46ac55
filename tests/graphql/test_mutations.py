"""Writes through /api/graphql: the same services as REST, audited exactly like their REST
twins, checked with the same permissions and the same input limits; a failed field writes
nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import MAILBOX, sign_up
from tests.graphql.conftest import CODE, data_of, error_codes, gql

CODE2 = CODE.replace("True", "False")
BOT_FIELDS = "id name description status currentVersion settings"


def _audit(tenant, action: str) -> list[dict[str, Any]]:
    response = tenant.call("GET", f"/api/v1/audit-logs?action={action}&page_size=100")
    assert response.status_code == 200, response.json
    return response.json["items"]


def _shape(row: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """An audit row without what differs between two calls of one mutation (the request id,
    the time, the row id), the resources' ids and names replaced by ``aliases``."""
    text = json.dumps({key: row[key] for key in ("actor_type", "actor_id", "action",
                                                 "resource_type", "resource_id", "changes",
                                                 "ip")}, sort_keys=True)
    for real, alias in aliases.items():
        text = text.replace(real, alias)
    return json.loads(text)


def _same_audit(tenant, action: str, rest: dict[str, str], graph: dict[str, str]) -> None:
    """The newest two ``action`` rows (REST's, then GraphQL's) read alike."""
    rows = _audit(tenant, action)
    assert len(rows) >= 2, rows
    graph_row, rest_row = rows[0], rows[1]
    assert _shape(rest_row, rest) == _shape(graph_row, graph)


def test_every_mutation_is_audited_exactly_like_its_rest_twin(tenant, client):
    ask = lambda query, variables=None: data_of(gql(client, tenant.headers, query, variables))  # noqa: E731

    # create
    rest_bot = tenant.create_bot("rest-bot", code=CODE, description="twin",
                                 settings={"timeout_seconds": 30})
    made = ask(f"mutation($input: CreateBotInput!) {{ createBot(input: $input) {{ {BOT_FIELDS} "
               "} }", {"input": {"name": "graph-bot", "code": CODE, "description": "twin",
                                 "settings": {"timeout_seconds": 30}}})["createBot"]
    assert made["currentVersion"] == 1 and made["settings"] == {"timeout_seconds": 30}
    rest = {rest_bot["id"]: "<bot>", "rest-bot": "<name>"}
    graph = {made["id"]: "<bot>", "graph-bot": "<name>"}
    _same_audit(tenant, "bot.create", rest, graph)

    # update, with new code
    change = {"description": "changed", "status": "active", "code": CODE2}
    assert tenant.call("PATCH", f"/api/v1/bots/{rest_bot['id']}", json=change).status_code == 200
    updated = ask("mutation($id: UUID!, $input: UpdateBotInput!) { updateBot(id: $id, "
                  "input: $input) { currentVersion status } }",
                  {"id": made["id"], "input": change})["updateBot"]
    assert updated == {"currentVersion": 2, "status": "active"}
    _same_audit(tenant, "bot.update", rest, graph)

    # versions
    tenant.call("POST", f"/api/v1/bots/{rest_bot['id']}/versions",
                json={"code": CODE, "message": "third"})
    version = ask("mutation($bot: UUID!) { createVersion(botId: $bot, code: "
                  f"{json.dumps(CODE)}, message: \"third\") {{ number message code }} }}",
                  {"bot": made["id"]})["createVersion"]
    assert version == {"number": 3, "message": "third", "code": CODE}
    _same_audit(tenant, "version.create", rest, graph)
    tenant.call("POST", f"/api/v1/bots/{rest_bot['id']}/rollback", json={"version": 1})
    rolled = ask("mutation($bot: UUID!) { rollbackBot(botId: $bot, version: 1) { number } }",
                 {"bot": made["id"]})["rollbackBot"]
    assert rolled == {"number": 4}
    _same_audit(tenant, "bot.rollback", rest, graph)

    # run with an idempotency key (twice: one run, one audit row), then cancel
    key_rest, key_graph = f"k-{uuid.uuid4().hex}", f"k-{uuid.uuid4().hex}"
    rest_run = tenant.call("POST", f"/api/v1/bots/{rest_bot['id']}/executions",
                           json={"input": {"n": 1}},
                           headers={"Idempotency-Key": key_rest}).json
    run_bot = ("mutation($bot: UUID!, $key: String) { runBot(botId: $bot, input: {n: 1}, "
               "idempotencyKey: $key) { created execution { id status input } } }")
    first = ask(run_bot, {"bot": made["id"], "key": key_graph})["runBot"]
    again = ask(run_bot, {"bot": made["id"], "key": key_graph})["runBot"]
    assert first["created"] is True and again["created"] is False
    assert again["execution"]["id"] == first["execution"]["id"]
    assert first["execution"]["input"] == {"n": 1}
    runs = {rest_run["id"]: "<run>", key_rest: "<key>"}
    graph_runs = {first["execution"]["id"]: "<run>", key_graph: "<key>"}
    _same_audit(tenant, "execution.create", {**rest, **runs}, {**graph, **graph_runs})
    assert len([r for r in _audit(tenant, "execution.create")
                if r["resource_id"] == first["execution"]["id"]]) == 1
    tenant.call("POST", f"/api/v1/executions/{rest_run['id']}/cancel")
    cancelled = ask("mutation($id: UUID!) { cancelExecution(id: $id) { ended execution "
                    "{ status cancelRequested } } }", {"id": first["execution"]["id"]})
    assert cancelled["cancelExecution"] == {"ended": True, "execution": {
        "status": "cancelled", "cancelRequested": True}}
    _same_audit(tenant, "execution.cancel", {**rest, **runs}, {**graph, **graph_runs})

    # schedule
    schedule = {"cron": "*/15 * * * *", "timezone": "Europe/Paris", "input": {"s": 1}}
    tenant.call("PUT", f"/api/v1/bots/{rest_bot['id']}/schedule", json=schedule)
    put = ask("mutation($bot: UUID!, $input: ScheduleInput!) { putSchedule(botId: $bot, "
              "input: $input) { cron timezone enabled } }",
              {"bot": made["id"], "input": schedule})["putSchedule"]
    assert put == {"cron": "*/15 * * * *", "timezone": "Europe/Paris", "enabled": True}
    _same_audit(tenant, "schedule.update", rest, graph)
    tenant.call("DELETE", f"/api/v1/bots/{rest_bot['id']}/schedule")
    ask("mutation($bot: UUID!) { deleteSchedule(botId: $bot) }", {"bot": made["id"]})
    _same_audit(tenant, "schedule.delete", rest, graph)

    # delete
    tenant.call("DELETE", f"/api/v1/bots/{rest_bot['id']}")
    assert ask("mutation($id: UUID!) { deleteBot(id: $id) }",
               {"id": made["id"]})["deleteBot"] == made["id"]
    _same_audit(tenant, "bot.delete", rest, graph)
    assert tenant.call("GET", f"/api/v1/bots/{made['id']}").status_code == 404


def test_member_mutations_are_audited_like_rest(tenant, client):
    ask = lambda query, variables=None: data_of(gql(client, tenant.headers, query, variables))  # noqa: E731
    rest_email = f"rest-{uuid.uuid4().hex[:6]}@example.com"
    graph_email = f"graph-{uuid.uuid4().hex[:6]}@example.com"
    rest_invite = tenant.call("POST", "/api/v1/invitations",
                              json={"email": rest_email, "role": "viewer"}).json
    invited = ask("mutation($email: String!) { inviteMember(email: $email, role: \"viewer\") "
                  "{ id email role } }", {"email": graph_email})["inviteMember"]
    assert invited["email"] == graph_email and invited["role"] == "viewer"
    assert MAILBOX.token_for(graph_email)  # the token was mailed, as from REST
    _same_audit(tenant, "invitation.create", {rest_invite["id"]: "<i>", rest_email: "<e>"},
                {invited["id"]: "<i>", graph_email: "<e>"})

    assert tenant.call("DELETE", f"/api/v1/invitations/{rest_invite['id']}").status_code == 204
    withdrawn = ask("mutation($id: UUID!) { withdrawInvitation(id: $id) }",
                    {"id": invited["id"]})["withdrawInvitation"]
    assert withdrawn == invited["id"]
    _same_audit(tenant, "invitation.withdraw", {rest_invite["id"]: "<i>", rest_email: "<e>"},
                {invited["id"]: "<i>", graph_email: "<e>"})
    assert tenant.call("GET", "/api/v1/invitations").json == []
    again = gql(client, tenant.headers, "mutation($id: UUID!) { withdrawInvitation(id: $id) }",
                {"id": invited["id"]})
    assert error_codes(again) == ["NOT_FOUND"] and again.json["data"] == {
        "withdrawInvitation": None}

    rest_member, graph_member = tenant.add_member("user"), tenant.add_member("user")
    tenant.call("PATCH", f"/api/v1/members/{rest_member['user_id']}", json={"role": "viewer"})
    changed = ask("mutation($id: UUID!) { changeMemberRole(userId: $id, role: \"viewer\") "
                  "{ userId role } }", {"id": graph_member["user_id"]})["changeMemberRole"]
    assert changed == {"userId": graph_member["user_id"], "role": "viewer"}
    _same_audit(tenant, "member.update", {rest_member["user_id"]: "<u>"},
                {graph_member["user_id"]: "<u>"})
    tenant.call("DELETE", f"/api/v1/members/{rest_member['user_id']}")
    ask("mutation($id: UUID!) { removeMember(userId: $id) }", {"id": graph_member["user_id"]})
    _same_audit(tenant, "member.delete", {rest_member["user_id"]: "<u>"},
                {graph_member["user_id"]: "<u>"})


def test_a_viewer_cannot_mutate_and_nothing_is_written(tenant, client):
    viewer = tenant.add_member("viewer")
    bot = tenant.create_bot("guarded")
    invitation = tenant.call("POST", "/api/v1/invitations",
                             json={"email": "kept@example.com", "role": "user"}).json
    before = len(_audit(tenant, "bot.update"))
    for query in (
        'mutation { createBot(input: {name: "nope"}) { id } }',
        f'mutation {{ updateBot(id: "{bot["id"]}", input: {{name: "nope"}}) {{ id }} }}',
        f'mutation {{ deleteBot(id: "{bot["id"]}") }}',
        f'mutation {{ runBot(botId: "{bot["id"]}") {{ created }} }}',
        'mutation { inviteMember(email: "x@example.com", role: "admin") { id } }',
        f'mutation {{ withdrawInvitation(id: "{invitation["id"]}") }}',
    ):
        response = gql(client, viewer["headers"], query)
        assert response.status_code == 200
        assert error_codes(response) == ["FORBIDDEN"], response.json
        assert list(response.json["data"].values()) == [None]
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["name"] == "guarded"
    assert len(_audit(tenant, "bot.update")) == before
    names = [b["name"] for b in tenant.call("GET", "/api/v1/bots").json["items"]]
    assert "nope" not in names
    assert [i["id"] for i in tenant.call("GET", "/api/v1/invitations").json] == [
        invitation["id"]]


def test_an_api_user_key_runs_bots_but_cannot_create_them(tenant, client):
    bot = tenant.create_bot("machine")
    headers = {"X-API-Key": tenant.api_key("api_user")}
    ran = gql(client, headers, f'mutation {{ runBot(botId: "{bot["id"]}") {{ created }} }}')
    assert data_of(ran)["runBot"] == {"created": True}
    made = gql(client, headers, 'mutation { createBot(input: {name: "x"}) { id } }')
    assert error_codes(made) == ["FORBIDDEN"]
    [row] = _audit(tenant, "execution.create")
    assert row["actor_type"] == "api_key"


def test_input_is_checked_by_the_rest_schemas(tenant, ask):
    cases = {
        '{name: "%s"}' % ("n" * 300): "name",
        '{name: "bad-code", code: "def main(:"}': "code",
        '{name: "bad-status", status: "flying"}': "status",
        '{name: "bad-settings", settings: {timeout_seconds: 100000}}': "settings",
        '{name: "   "}': "name",
    }
    for given, field in cases.items():
        response = ask(f"mutation {{ createBot(input: {given}) {{ id }} }}")
        assert response.status_code == 200
        assert error_codes(response) == ["BAD_USER_INPUT"], (given, response.json)
        assert field in json.dumps(response.json["errors"][0]), response.json
    assert tenant.call("GET", "/api/v1/bots").json["total"] == 0
    bot = tenant.create_bot("keyed")
    response = ask(f'mutation {{ runBot(botId: "{bot["id"]}", idempotencyKey: "") '
                   '{ created } }')
    assert error_codes(response) == ["BAD_USER_INPUT"]


def test_a_failed_field_writes_nothing_and_earlier_fields_stand(tenant, ask):
    tenant.create_bot("taken")
    response = ask('mutation { first: createBot(input: {name: "fresh"}) { name } '
                   'second: createBot(input: {name: "taken"}) { name } }')
    assert response.json["data"] == {"first": {"name": "fresh"}, "second": None}
    assert error_codes(response) == ["CONFLICT"]
    names = sorted(b["name"] for b in tenant.call("GET", "/api/v1/bots").json["items"])
    assert names == ["fresh", "taken"]
    assert len(_audit(tenant, "bot.create")) == 2


def test_a_field_whose_answer_fails_writes_nothing(tenant, ask):
    # The write ran, then a field of its answer failed (a bad page size, a bad cursor): the
    # mutation answered null with the error, yet the bot stood, audited. A client retrying
    # it would make it twice.
    bot = tenant.create_bot("kept")
    response = ask(f"""mutation {{
        first: createBot(input: {{name: "fresh", code: {json.dumps(CODE)}}}) {{ name }}
        second: createBot(input: {{name: "halfway"}}) {{
            name versions(first: 0) {{ nodes {{ id }} }} }}
        third: updateBot(id: "{bot['id']}", input: {{description: "changed"}}) {{
            name executions(after: "not-a-cursor") {{ nodes {{ id }} }} }}
        fourth: deleteSchedule(botId: "{bot['id']}")
    }}""")
    assert response.json["data"] == {"first": {"name": "fresh"}, "second": None, "third": None,
                                     "fourth": None}
    assert error_codes(response) == ["BAD_USER_INPUT", "BAD_USER_INPUT", "NOT_FOUND"]
    names = sorted(b["name"] for b in tenant.call("GET", "/api/v1/bots").json["items"])
    assert names == ["fresh", "kept"]
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["description"] == ""
    assert len(_audit(tenant, "bot.create")) == 2 and not _audit(tenant, "bot.update")


def test_each_mutation_field_counts_against_the_rate_limit_like_its_rest_call(make_app):
    # One request with ten aliased createBot fields counted once: ten REST calls' writes for
    # one call's share of the limit (aliases allow thirty).
    app = make_app(rate_limit_per_minute=4)
    client = app.test_client()
    admin = sign_up(client)
    key = {"X-API-Key": admin.api_key("admin")}
    fields = " ".join(f'b{i}: createBot(input: {{name: "limited-{i}", code: {json.dumps(CODE)}}})'
                      " { name }" for i in range(10))
    response = gql(client, key, f"mutation {{ {fields} }}")
    made = sorted(bot["name"] for bot in response.json["data"].values() if bot is not None)
    assert 1 <= len(made) <= 8, made  # the limit, twice if a minute began meanwhile
    assert error_codes(response) == ["RATE_LIMITED"] * (10 - len(made))
    assert {error["extensions"]["status"] for error in response.json["errors"]} == {429}
    listed = client.get("/api/v1/bots?page_size=100", headers=admin.headers)
    assert sorted(bot["name"] for bot in listed.json["items"]) == made  # nothing else written
