"""The endpoint itself: authentication like REST, JSON for every refusal, limits before any
SQL, introspection by configuration, no GraphiQL, no stack traces."""

from __future__ import annotations

import pytest

from tests.graphql.conftest import PATH, data_of, error_codes, gql


def test_no_credentials_is_401_in_rests_shape(client):
    response = client.post(PATH, json={"query": "{ workspace { id } }"})
    assert response.status_code == 401
    assert response.json["code"] == 401 and response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("body,content_type", [
    (b"{not json", "application/json"),
    (b'{"query": 5}', "application/json"),
    (b'{"variables": {}}', "application/json"),
    (b"query=x", "application/x-www-form-urlencoded"),
    (b'[{"query": "{ bots { nodes { id } } }"}]', "application/json"),
    (b'{"query": "{ workspace { id } }", "variables": {"x": ' + b"[" * 100_000
     + b"]" * 100_000 + b"}}", "application/json"),
])
def test_a_body_that_is_no_graphql_request_is_a_json_400(tenant, body, content_type):
    response = tenant.client.post(PATH, data=body, content_type=content_type,
                                  headers=tenant.headers)
    assert response.status_code == 400, response.data
    assert response.json["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_a_nul_character_in_the_variables_is_refused_before_any_write(tenant, ask):
    bot = tenant.create_bot("nul")
    response = ask("mutation($b: UUID!, $i: JSON) { runBot(botId: $b, input: $i) { created } }",
                   {"b": bot["id"], "i": {"text": "a\x00b"}})
    assert response.status_code == 422, response.json
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions").json["total"] == 0


@pytest.mark.parametrize("body", [
    b'{"query": "{ workspace { id } }", "query": "mutation { runBot { created } }"}',
    b'{"query": "{ workspace { id } }", "variables": {"b": 1, "b": 2}}',
])
def test_a_key_given_twice_is_refused(tenant, body):
    # The last "query" won: what a gateway inspecting the first one saw was not what ran.
    response = tenant.client.post(PATH, data=body, content_type="application/json",
                                  headers=tenant.headers)
    assert response.status_code == 422, response.data
    assert "given more than once" in response.json["errors"][0]["message"]


def test_a_body_over_the_size_limit_is_413(tenant):
    big = b'{"query": "{ workspace { id } }", "variables": {"x": "' + b"x" * 1_100_000 + b'"}}'
    response = tenant.client.post(PATH, data=big, content_type="application/json",
                                  headers=tenant.headers)
    assert response.status_code == 413 and response.json["code"] == 413


@pytest.mark.parametrize("query,variables", [
    ("{ bots { nodes { nope } } }", {}),
    ("{ bots(", {}),
    ("query($id: UUID!) { bot(id: $id) { id } }", {"id": "not-a-uuid"}),
    ("query($id: UUID!) { bot(id: $id) { id } }", {}),
    ('{ bot(id: "123") { id } }', {}),
    ("mutation { runBot { created } }", {}),
])
def test_bad_input_is_a_graphql_error_never_a_500(ask, query, variables):
    response = ask(query, variables)
    assert response.status_code == 200, response.data
    assert response.json["errors"] and response.json["data"] is None
    assert error_codes(response)[0] == "GRAPHQL_VALIDATION_FAILED"


def test_graphiql_is_not_served(tenant, client):
    assert client.get(PATH, headers={"Accept": "text/html"}).status_code == 405
    assert client.get(PATH, headers=tenant.headers).status_code == 405


def test_too_deep_an_operation_is_refused(ask):
    deep = "{ executions { nodes { bot { executions { nodes { bot { executions { nodes { " \
           "bot { executions { nodes { bot { id } } } } } } } } } } } } }"
    response = ask(deep)
    assert response.json["data"] is None
    assert "exceeds maximum operation depth" in response.json["errors"][0]["message"]


def test_too_long_an_operation_is_refused(ask):
    fields = " ".join(["id"] * 2100)
    response = ask(f"{{ bots {{ nodes {{ {fields} }} }} }}")
    assert response.json["data"] is None
    assert "more than 2000 tokens" in response.json["errors"][0]["message"]


def test_too_costly_an_operation_is_refused_with_its_cost(ask):
    response = ask("{ bots(first: 100) { nodes { executions(first: 100) { nodes { id } } } } }")
    assert response.json["data"] is None
    [error] = response.json["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["extensions"]["cost"] == 100 + 100 * 100
    costly = "query($n: Int) { bots(first: $n) { nodes { executions(first: $n) { nodes { id } " \
             "} } } }"
    assert error_codes(ask(costly, {"n": 100})) == ["COST_LIMIT_EXCEEDED"]
    assert data_of(ask(costly, {"n": 10}))


def test_a_page_size_from_a_variables_default_counts_in_the_cost(ask):
    # A variable left out of the request takes its default in the document: the cost must
    # count that page size, not the API's default one (20 + 20 * 20 would pass the limit).
    costly = "query($n: Int = 100) { bots(first: $n) { nodes { executions(first: $n) { " \
             "nodes { id } } } } }"
    response = ask(costly)
    assert response.json["data"] is None
    [error] = response.json["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["extensions"]["cost"] == 100 + 100 * 100
    # a value sent for the variable wins over its default, as it does when the query runs
    assert data_of(ask(costly, {"n": 10}))
    assert data_of(ask("query($n: Int = 100) { bots(first: $n) { nodes { id } } }"))


def test_introspection_follows_the_configuration(tenant, make_app):
    query = "{ __schema { queryType { name } } }"
    assert data_of(gql(tenant.client, tenant.headers, query))["__schema"]["queryType"] == {
        "name": "Query"}
    closed = make_app(graphql_introspection=False).test_client()
    response = gql(closed, tenant.headers, query)
    assert response.json["data"] is None
    assert "introspection" in response.json["errors"][0]["message"].lower()


@pytest.mark.parametrize("query, variables", [
    ("{ botz { nodes { id } } }", None),                       # a field of Query
    ("{ bots { nodes { nam } } }", None),                      # a field of a type
    ("{ bots(firs: 1) { nodes { id } } }", None),              # an argument
    ("{ bots { nodes { ... on Bo { id } } } }", None),          # a type
    ("mutation { createBott }", None),                          # a mutation
    ("mutation($i: CreateBotInput!) { createBot(input: $i) { id } }",  # an input field
     {"i": {"name": "x", "descripton": "y"}}),
])
def test_without_introspection_an_error_suggests_no_names(tenant, make_app, query, variables):
    # "Did you mean 'bots'?" would give the schema away one guess at a time.
    closed = make_app(graphql_introspection=False).test_client()
    response = gql(closed, tenant.headers, query, variables)
    assert response.json["data"] is None
    [error, *_] = response.json["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in response.get_data(as_text=True), error["message"]
    # with introspection on, the suggestion helps (the schema is open anyway)
    opened = gql(tenant.client, tenant.headers, query, variables)
    assert "Did you mean" in opened.get_data(as_text=True)


def test_a_document_of_several_operations_must_name_the_one_to_run(tenant, ask):
    # The first one ran, whatever the client meant: a mutation after a query was dropped.
    document = 'query Read { bots { nodes { id } } } mutation Write { createBot(input: ' \
               '{name: "named"}) { id } }'
    response = ask(document)
    assert response.json["data"] is None
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "operationName" in response.json["errors"][0]["message"]
    named = tenant.client.post(PATH, headers=tenant.headers,
                               json={"query": document, "operationName": "Write"})
    assert named.json["data"]["createBot"]["id"]
    assert data_of(ask("query Only { bots { nodes { id } } }"))


def test_introspection_is_off_in_production_by_default(tmp_path):
    from codex32.config import Settings
    from tests.test_config import development_env, production_env

    assert Settings.from_env(development_env(tmp_path)).graphql_introspection is True
    assert Settings.from_env(production_env(tmp_path)).graphql_introspection is False
    assert Settings.from_env(production_env(tmp_path, GRAPHQL_INTROSPECTION="true")
                             ).graphql_introspection is True


def test_an_unexpected_failure_is_masked_and_logged(ask, monkeypatch, caplog):
    from tenants import members

    def broken(session):
        raise RuntimeError("secret detail at /srv/codex32/tenants/members.py line 35")

    monkeypatch.setattr(members, "list_members", broken)
    response = ask("{ members { email } }")
    assert response.status_code == 200
    [error] = response.json["errors"]
    assert error["message"] == "internal error; this field was not applied"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "status": 500}
    assert "secret detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any("secret detail" in str(record.exc_info) for record in caplog.records
               if record.exc_info)
