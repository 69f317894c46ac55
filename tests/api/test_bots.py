"""Bots and versions: create, list, filter, update, delete, versions, rollback, bad input."""

from __future__ import annotations

import io

import pytest

CODE = "def main(event, context):\n    return {'n': 1}\n"


def test_create_with_code_makes_version_one(tenant):
    bot = tenant.create_bot("reporter", description="Sends a report", code=CODE)
    assert bot["current_version"] == 1
    version = tenant.call("GET", f"/api/v1/bots/{bot['id']}/versions/1").json
    assert version["code"] == CODE
    assert version["message"] == "Initial version"


def test_created_bots_are_counted_and_refusals_are_not(tenant):
    from prometheus_client import REGISTRY

    def created() -> float:
        return REGISTRY.get_sample_value("bots_created_total") or 0.0

    before = created()
    tenant.create_bot("counted")
    assert tenant.call("POST", "/api/v1/bots", json={"name": "counted"}).status_code == 409
    assert created() == before + 1


def test_create_without_code_has_no_version(tenant):
    bot = tenant.create_bot("draft-only", code=None)
    assert bot["current_version"] == 0
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/versions").json["total"] == 0


def test_syntax_error_is_422_with_the_line(tenant):
    response = tenant.call("POST", "/api/v1/bots", json={
        "name": "broken", "code": "x = 1\ndef main(event, context)\n    return 1\n"})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["code"][0].startswith("line 2")
    assert tenant.call("GET", "/api/v1/bots?q=broken").json["total"] == 0


def test_null_byte_in_code_is_422(tenant):
    response = tenant.call("POST", "/api/v1/bots", json={"name": "nul", "code": "x = 1\x00"})
    assert response.status_code == 422


def test_duplicate_name_in_one_workspace_is_409(tenant):
    tenant.create_bot("twin")
    response = tenant.call("POST", "/api/v1/bots", json={"name": "twin"})
    assert response.status_code == 409


def test_same_name_in_two_workspaces_is_fine(tenant, other_tenant):
    tenant.create_bot("shared-name")
    other_tenant.create_bot("shared-name")


def test_list_is_paginated_newest_first(tenant):
    names = [tenant.create_bot(f"page-{i}")["name"] for i in range(5)]
    first = tenant.call("GET", "/api/v1/bots?page_size=2").json
    assert first["total"] == 5 and first["page_size"] == 2
    assert [b["name"] for b in first["items"]] == names[::-1][:2]
    third = tenant.call("GET", "/api/v1/bots?page_size=2&page=3").json
    assert [b["name"] for b in third["items"]] == [names[0]]
    past = tenant.call("GET", "/api/v1/bots?page_size=2&page=9").json
    assert past["items"] == [] and past["total"] == 5


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page=0", "page=x",
                                   "status=unknown"])
def test_bad_list_arguments_are_422(tenant, query):
    assert tenant.call("GET", f"/api/v1/bots?{query}").status_code == 422


def test_filter_by_status_and_q_case_insensitive(tenant):
    tenant.create_bot("Alpha Monitor", status="active")
    tenant.create_bot("beta", description="watches the ALPHA feed")
    tenant.create_bot("gamma")
    found = tenant.call("GET", "/api/v1/bots?q=alpha").json
    assert {b["name"] for b in found["items"]} == {"Alpha Monitor", "beta"}
    active = tenant.call("GET", "/api/v1/bots?status=active").json
    assert [b["name"] for b in active["items"]] == ["Alpha Monitor"]


def test_q_treats_percent_and_underscore_literally(tenant):
    tenant.create_bot("100% done")
    tenant.create_bot("100 done")
    tenant.create_bot("a_b")
    tenant.create_bot("axb")
    assert [b["name"] for b in tenant.call("GET", "/api/v1/bots?q=100%25").json["items"]] == [
        "100% done"]
    assert [b["name"] for b in tenant.call("GET", "/api/v1/bots?q=a_b").json["items"]] == ["a_b"]


def test_sql_metacharacters_and_unicode_are_stored_literally(tenant):
    name = "Robert'); DROP TABLE bots;-- 🤖 ünïcødé"
    bot = tenant.create_bot(name, description="' OR 1=1 --")
    got = tenant.call("GET", f"/api/v1/bots/{bot['id']}").json
    assert got["name"] == name and got["description"] == "' OR 1=1 --"
    assert tenant.call("GET", "/api/v1/bots").json["total"] >= 1


def test_patch_code_creates_a_new_version(tenant):
    bot = tenant.create_bot("evolving", code=CODE)
    response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={
        "code": CODE.replace("1", "2"), "message": "bump", "status": "active"})
    assert response.status_code == 200
    assert response.json["current_version"] == 2 and response.json["status"] == "active"
    versions = tenant.call("GET", f"/api/v1/bots/{bot['id']}/versions").json
    assert [v["number"] for v in versions["items"]] == [2, 1]
    assert "code" not in versions["items"][0]


def test_patch_with_bad_code_changes_nothing(tenant):
    bot = tenant.create_bot("stable", code=CODE)
    response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                           json={"name": "renamed", "code": "def ("})
    assert response.status_code == 422
    got = tenant.call("GET", f"/api/v1/bots/{bot['id']}").json
    assert got["name"] == "stable" and got["current_version"] == 1


def test_rename_to_existing_name_is_409(tenant):
    tenant.create_bot("taken")
    bot = tenant.create_bot("free")
    response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"name": "taken"})
    assert response.status_code == 409


def test_versions_and_rollback(tenant):
    bot = tenant.create_bot("rolling", code=CODE)
    added = tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions",
                        json={"code": "def main(event, context):\n    return 2\n"})
    assert added.status_code == 201 and added.json["number"] == 2
    rolled = tenant.call("POST", f"/api/v1/bots/{bot['id']}/rollback", json={"version": 1})
    assert rolled.status_code == 201
    assert rolled.json["number"] == 3 and rolled.json["code"] == CODE
    assert rolled.json["message"] == "Rollback to version 1"
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["current_version"] == 3
    missing = tenant.call("POST", f"/api/v1/bots/{bot['id']}/rollback", json={"version": 9})
    assert missing.status_code == 404


def test_delete_removes_bot_and_versions(tenant):
    bot = tenant.create_bot("doomed", code=CODE)
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}").status_code == 204
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}").status_code == 404
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/versions/1").status_code == 404


@pytest.mark.parametrize(("field", "value"), [
    ("name", "x" * 256), ("name", "   "), ("name", ""), ("description", "d" * 10_001),
    ("code", "#" * (256 * 1024 + 1)), ("name", 42), ("status", "running"), ("owner_id", "me"),
])
def test_field_limits_are_422(tenant, field, value):
    body = {"name": "limits", field: value}
    response = tenant.call("POST", "/api/v1/bots", json=body)
    assert response.status_code == 422, response.json
    assert response.json["message"]
    assert response.json["errors"]


def test_malformed_json_is_400(tenant):
    response = tenant.call("POST", "/api/v1/bots", data="{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json["message"]


def test_body_over_one_mebibyte_is_413(tenant):
    body = '{"name": "big", "description": "' + "x" * (1024 * 1024) + '"}'
    response = tenant.call("POST", "/api/v1/bots", data=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json["message"]


def test_chunked_body_over_the_limit_is_413(tenant):
    # No Content-Length: the app must stop reading at the limit. gunicorn marks chunked
    # bodies with wsgi.input_terminated, as the environ override does here.
    body = b'{"name": "chunky", "description": "' + b"x" * (20 * 65536) + b'"}'
    response = tenant.call("POST", "/api/v1/bots", input_stream=io.BytesIO(body), headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert tenant.call("GET", "/api/v1/bots?q=chunky").json["total"] == 0


def test_unknown_route_and_method_are_json(tenant):
    missing = tenant.call("GET", "/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["message"]
    wrong = tenant.call("PUT", "/api/v1/bots")
    assert wrong.status_code == 405 and wrong.json["message"]
    assert "GET" in wrong.headers["Allow"]


def test_bad_uuid_in_path_is_404(tenant):
    assert tenant.call("GET", "/api/v1/bots/not-a-uuid").status_code == 404
