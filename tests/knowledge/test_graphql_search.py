"""Search through /api/graphql: the same hybrid search as REST, bound to the caller's
workspace (an isolation attack: B never reaches A's passages or bots)."""

from __future__ import annotations

from tests.conftest import sign_up
from tests.graphql.conftest import data_of, error_codes, gql
from tests.knowledge.conftest import collection, upload_text

SECRET = "Project nightingale merges with the competitor in March."
SEARCH = """query($q: String!, $kind: String, $collection: UUID) {
  search(q: $q, kind: $kind, collection: $collection) {
    vectorSearch items { kind passage bot document } } }"""


def test_graphql_search_finds_a_workspaces_own_knowledge_and_never_anothers(client, tenant,
                                                                             kb):
    a, b = tenant, sign_up(client)
    a_docs = collection(a, "secrets")
    a_doc = upload_text(a, a_docs, "Merger", SECRET).json
    a_bot = a.create_bot("nightingale-bot", description="Project nightingale merger helper")
    upload_text(b, collection(b, "secrets"), "Decoy", "Nightingales sing at night in gardens.")
    kb.drain(a, b)

    own = data_of(gql(client, a.headers, SEARCH, {"q": "project nightingale merger"}))
    assert own["search"]["vectorSearch"]
    assert a_doc["id"] in {h["document"]["id"] for h in own["search"]["items"] if h["document"]}
    assert a_bot["id"] in {h["bot"]["id"] for h in own["search"]["items"] if h["bot"]}

    for kind in (None, "documents", "bots"):
        found = data_of(gql(client, b.headers, SEARCH,
                            {"q": "project nightingale merger", "kind": kind}))["search"]
        assert a_doc["id"] not in {h["document"]["id"] for h in found["items"] if h["document"]}
        assert a_bot["id"] not in {h["bot"]["id"] for h in found["items"] if h["bot"]}
        assert all("competitor" not in h["passage"] for h in found["items"])
    crafted = gql(client, b.headers, SEARCH, {"q": "nightingale", "collection": a_docs})
    assert crafted.json["data"] == {"search": None}
    assert error_codes(crafted) == ["NOT_FOUND"]


def test_a_nul_in_a_graphql_string_literal_is_refused_before_it_runs(client, tenant):
    """A NUL reaches a string argument through a literal's escape (the JSON body holds none):
    PostgreSQL cannot take it, so it was a 500 from inside the search."""
    for query in ('{ search(q: "a\\u0000b") { items { passage } } }',
                  'query { search(q: "ok", kind: "\\u0000") { items { passage } } }'):
        response = gql(client, tenant.headers, query)
        assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"], response.json
        assert "NUL" in response.json["errors"][0]["message"]
    escaped = gql(client, tenant.headers, '{ search(q: "a\\\\u0000b") { items { passage } } }')
    assert "errors" not in escaped.json, escaped.json  # a backslash, then "u0000": no NUL
