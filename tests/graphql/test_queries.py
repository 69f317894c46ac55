"""Reads through /api/graphql: the same data as REST, cursor pages, batched children."""

from __future__ import annotations

import base64
import json
import threading

import psycopg
import pytest

from tests.conftest import sign_up
from tests.graphql.conftest import CODE, data_of, error_codes, gql

BOTS = """query($first: Int, $after: String) {
  bots(first: $first, after: $after) {
    nodes { id name currentVersion
      versions(first: 5) { nodes { number message code } }
      executions(first: 5) { nodes { id status input bot { name } } }
      schedule { cron nextRuns } }
    pageInfo { hasNextPage endCursor } } }"""


def test_the_workspace_and_its_members_read_like_rest(tenant, ask):
    data = data_of(ask("{ workspace { id name slug } members { userId email role } }"))
    rest = tenant.call("GET", "/api/v1/workspace").json
    assert data["workspace"] == {"id": rest["id"], "name": rest["name"], "slug": rest["slug"]}
    assert data["members"] == [{"userId": tenant.user_id, "email": tenant.email,
                                "role": "admin"}]


def test_bots_with_versions_executions_and_schedule(tenant, ask):
    bot = tenant.create_bot("reader", code=CODE)
    tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions",
                json={"code": CODE.replace("True", "False"), "message": "second"})
    run = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"input": {"a": 1}})
    tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json={"cron": "0 3 * * *"})
    data = data_of(ask(BOTS))
    [node] = data["bots"]["nodes"]
    assert node["name"] == "reader" and node["currentVersion"] == 2
    assert [v["number"] for v in node["versions"]["nodes"]] == [2, 1]
    assert node["versions"]["nodes"][0]["message"] == "second"
    assert "False" in node["versions"]["nodes"][0]["code"]
    assert node["executions"]["nodes"] == [{"id": run.json["id"], "status": "queued",
                                            "input": {"a": 1}, "bot": {"name": "reader"}}]
    assert node["schedule"]["cron"] == "0 3 * * *" and len(node["schedule"]["nextRuns"]) == 5
    assert data["bots"]["pageInfo"]["hasNextPage"] is False


def test_cursor_pages_are_stable_under_inserts(tenant, ask):
    names = [tenant.create_bot(f"page-{i}")["name"] for i in range(5)]
    first = data_of(ask(BOTS, {"first": 2}))["bots"]
    assert [n["name"] for n in first["nodes"]] == names[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    tenant.create_bot("inserted-meanwhile")
    second = data_of(ask(BOTS, {"first": 2, "after": first["pageInfo"]["endCursor"]}))["bots"]
    assert [n["name"] for n in second["nodes"]] == names[::-1][2:4]
    third = data_of(ask(BOTS, {"first": 2, "after": second["pageInfo"]["endCursor"]}))["bots"]
    assert [n["name"] for n in third["nodes"]] == names[:1]
    assert third["pageInfo"]["hasNextPage"] is False


BOT_EXECUTIONS = """query($first: Int, $after: String) { bots(first: 1) { nodes {
  executions(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
  } } }"""


def test_a_bots_executions_page_on_with_their_cursor(tenant, ask):
    bot = tenant.create_bot("pager", code=CODE)
    runs = [tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                        json={"input": {"n": n}}).json["id"] for n in range(3)]

    def page(after: str | None = None) -> dict:
        found = data_of(ask(BOT_EXECUTIONS, {"first": 2, "after": after}))
        return found["bots"]["nodes"][0]["executions"]

    first = page()
    second = page(first["pageInfo"]["endCursor"])
    assert [n["id"] for n in first["nodes"] + second["nodes"]] == runs[::-1]
    assert first["pageInfo"]["hasNextPage"] is True
    assert second["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("after", ["not-a-cursor", "WzFd", "eyJhIjogMX0="])
def test_a_cursor_this_api_did_not_give_is_a_clear_error(ask, after):
    response = ask(BOTS, {"after": after})
    assert response.status_code == 200
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "cursor" in response.json["errors"][0]["message"]


@pytest.mark.parametrize("number", [10**30, -10**30, 2**31])
def test_a_version_cursor_beyond_the_integer_range_is_a_clear_error(tenant, ask, number):
    """A hand-made version cursor whose number Postgres cannot hold: 422, never an internal
    error (it was the database's "integer out of range")."""
    tenant.create_bot()
    after = base64.urlsafe_b64encode(json.dumps([number]).encode()).decode()
    response = ask("query($a: String) { bots { nodes { versions(after: $a) { nodes { id } } } } }",
                   {"a": after})
    assert response.status_code == 200
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "cursor" in response.json["errors"][0]["message"]


@pytest.mark.parametrize("first", [0, 101, -1])
def test_a_page_size_out_of_bounds_is_a_clear_error(ask, first):
    assert error_codes(ask(BOTS, {"first": first})) == ["BAD_USER_INPUT"]


def _count_statements(monkeypatch) -> list[str]:
    """Every statement this thread sends through psycopg from now on (SQLAlchemy's and the
    driver's); not another thread's (the process's background work, a listener)."""
    sent: list[str] = []
    here = threading.get_ident()
    for name in ("execute", "executemany"):
        original = getattr(psycopg.Cursor, name)

        def counting(self, query, *args, _original=original, **kwargs):
            if threading.get_ident() == here:
                sent.append(str(query))
            return _original(self, query, *args, **kwargs)
        monkeypatch.setattr(psycopg.Cursor, name, counting)
    return sent


def test_nested_lists_cost_the_same_statements_for_3_or_15_bots(tenant, ask, monkeypatch):
    """No N+1: bots { versions, executions, schedule } reads each level in one statement."""
    def grow(count: int) -> None:
        for _ in range(count):
            bot = tenant.create_bot(code=CODE)
            tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions", json={"code": CODE})
            tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions", json={"input": {}})

    counts = {}
    for total, more in ((3, 3), (15, 12)):
        grow(more)
        with monkeypatch.context() as patch:
            sent = _count_statements(patch)
            data = data_of(ask(BOTS, {"first": 50}))
        assert len(data["bots"]["nodes"]) == total
        assert all(len(n["versions"]["nodes"]) == 2 for n in data["bots"]["nodes"])
        assert all(len(n["executions"]["nodes"]) == 1 for n in data["bots"]["nodes"])
        counts[total] = len(sent)
    assert counts[3] == counts[15], counts
    assert counts[15] <= 10, counts


def test_one_execution_with_its_logs_and_its_bot(tenant, ask):
    bot = tenant.create_bot("runner")
    run = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                      json={"input": {"x": [1, 2]}}).json
    data = data_of(ask("query($id: UUID!) { execution(id: $id) { id status input logs "
                       "logsTruncated retriedBy bot { id name } } }", {"id": run["id"]}))
    assert data["execution"] == {"id": run["id"], "status": "queued", "input": {"x": [1, 2]},
                                 "logs": "", "logsTruncated": False, "retriedBy": None,
                                 "bot": {"id": bot["id"], "name": "runner"}}
    listed = data_of(ask("{ executions(first: 5) { nodes { id } } }"))["executions"]["nodes"]
    assert [n["id"] for n in listed] == [run["id"]]


def test_a_missing_bot_is_null_with_a_not_found_error(ask):
    response = ask("{ bot(id: \"00000000-0000-0000-0000-000000000000\") { name } }")
    assert response.json["data"] == {"bot": None}
    assert error_codes(response) == ["NOT_FOUND"]
    assert response.json["errors"][0]["extensions"]["status"] == 404


def test_usage_budgets_and_builder_conversations(tenant, ask):
    started = tenant.call("POST", "/api/v1/builder/conversations",
                          json={"message": "Check https://example.com hourly"}).json
    data = data_of(ask("""{ usage(groupBy: ["day"]) { groupBy groups { day requests costUsd } }
      budgets { id }
      builderConversations(first: 5) { nodes { id state turns } }
      }"""))
    assert data["usage"]["groupBy"] == ["day"]
    assert data["budgets"] == []
    [conversation] = data["builderConversations"]["nodes"]
    assert conversation["id"] == started["conversation_id"] and conversation["turns"] == 2
    detail = data_of(ask("query($id: UUID!) { builderConversation(id: $id) { id state "
                         "turnList specification } }", {"id": started["conversation_id"]}))
    assert [t["role"] for t in detail["builderConversation"]["turnList"]] == ["user",
                                                                              "assistant"]


def test_an_unknown_usage_group_is_a_clear_error(ask):
    response = ask('{ usage(groupBy: ["colour"]) { groupBy } }')
    assert error_codes(response) == ["BAD_USER_INPUT"]


def test_search_finds_the_workspaces_own_bots(tenant, ask):
    tenant.create_bot("weather-reporter", description="reports the weather forecast")
    response = ask('{ search(q: "weather forecast", kind: "bots") { query items { kind '
                   'passage bot } } }')
    found = data_of(response)["search"]
    assert found["query"] == "weather forecast"


def test_a_viewer_reads_but_an_api_user_sees_no_members(tenant, client):
    viewer = tenant.add_member("viewer")
    assert data_of(gql(client, viewer["headers"], "{ bots { nodes { id } } members { role } }"))
    key = tenant.api_key("api_user")
    response = gql(client, {"X-API-Key": key}, "{ bots { nodes { id } } members { role } }")
    assert response.json["data"] is None or response.json["data"].get("members") is None
    assert "FORBIDDEN" in error_codes(response)


def test_each_search_field_counts_against_the_rate_limit_like_its_rest_call(make_app):
    # Thirty aliased searches (each embeds the query through the gateway) counted once.
    app = make_app(rate_limit_per_minute=4)
    client = app.test_client()
    key = {"X-API-Key": sign_up(client).api_key("viewer")}
    fields = " ".join(f'q{i}: search(q: "anything {i}") {{ query }}' for i in range(10))
    response = gql(client, key, f"{{ {fields} }}")
    answered = [alias for alias, found in response.json["data"].items() if found is not None]
    assert 1 <= len(answered) <= 8, response.json  # the limit, twice if a minute began
    assert error_codes(response) == ["RATE_LIMITED"] * (10 - len(answered))


def test_an_answer_stops_at_its_byte_budget(tenant, ask):
    # The cost counts objects, and code or logs are scalars: thirty aliases of one bot's ten
    # 100 KB versions with their code answered 30 MB (600 MB with a hundred 200 KB versions).
    big = CODE + "# " + "x" * (100 * 1024) + "\n"
    bot = tenant.create_bot(code=big)
    for number in range(9):
        made = tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions",
                           json={"code": f"{big}# {number}\n"})
        assert made.status_code == 201, made.json
    one = f'bot(id: "{bot["id"]}") {{ versions(first: 10) {{ nodes {{ code }} }} }}'
    assert len(data_of(ask(f"{{ {one} }}"))["bot"]["versions"]["nodes"]) == 10  # 1 MB
    response = ask("{ " + " ".join(f"a{i}: {one}" for i in range(30)) + " }")
    assert len(response.get_data()) <= 16 * 1024 * 1024 + 64 * 1024  # GRAPHQL_MAX_ANSWER_BYTES
    codes = error_codes(response)
    assert codes and set(codes) == {"TOO_LARGE"}, response.json["errors"][:1]
    error = response.json["errors"][0]
    assert error["extensions"]["status"] == 413 and "first" in error["message"]
    answered = [found for found in response.json["data"].values() if found is not None]
    assert 10 <= len(answered) < 30
