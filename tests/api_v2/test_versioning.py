"""Choosing a version: the path, or Accept-Version on an unversioned path; clear refusals."""

from __future__ import annotations

import pytest


def test_answers_name_their_version(tenant):
    assert tenant.call("GET", "/api/v1/bots").headers["API-Version"] == "1"
    response = tenant.call("GET", "/api/v2/bots")
    assert response.headers["API-Version"] == "2"
    assert "Accept-Version" in response.headers["Vary"]


@pytest.mark.parametrize("header,version,key", [("1", "1", "items"), ("v1", "1", "items"),
                                                ("2", "2", "data"), ("2.0", "2", "data"),
                                                (None, "2", "data")])
def test_an_unversioned_path_follows_the_header_or_the_latest(tenant, header, version, key):
    headers = {"Accept-Version": header} if header else {}
    response = tenant.call("GET", "/api/bots", headers=headers)
    assert response.status_code == 200, response.json
    assert response.headers["API-Version"] == version and key in response.json


def test_the_header_may_repeat_the_paths_version(tenant):
    assert tenant.call("GET", "/api/v2/bots",
                       headers={"Accept-Version": "v2"}).status_code == 200


def test_a_header_contradicting_the_path_is_a_400(tenant):
    response = tenant.call("GET", "/api/v2/bots", headers={"Accept-Version": "1"})
    assert response.status_code == 400
    assert response.json["errors"][0]["location"] == "headers"
    v1 = tenant.call("GET", "/api/v1/bots", headers={"Accept-Version": "2"})
    assert v1.status_code == 400 and v1.json["code"] == 400  # v1's own shape


@pytest.mark.parametrize("header", ["3", "latest", "", "v2beta"])
@pytest.mark.parametrize("path", ["/api/bots", "/api/v2/bots"])
def test_an_unknown_version_is_a_406(tenant, header, path):
    response = tenant.call("GET", path, headers={"Accept-Version": header})
    assert response.status_code == 406
    assert response.mimetype == "application/problem+json"
    assert "supported: 1, 2" in response.json["detail"]


def test_an_unknown_version_on_a_v1_path_answers_in_v1s_shape(tenant):
    response = tenant.call("GET", "/api/v1/bots", headers={"Accept-Version": "9"})
    assert response.status_code == 406 and response.json["code"] == 406


def test_unversioned_routes_that_exist_are_left_alone(client):
    for path in ("/api/openapi.json", "/api/docs", "/api/redoc"):
        response = client.get(path, headers={"Accept-Version": "2"})
        assert response.status_code == 200, path
    assert client.get("/api/openapi.json").json["info"]["title"] == "Codex-32 API v1"


def test_a_write_through_the_header_reaches_the_same_service(tenant):
    made = tenant.call("POST", "/api/bots", json={"name": "via-header"},
                       headers={"Accept-Version": "1"})
    assert made.status_code == 201
    assert tenant.call("GET", f"/api/v2/bots/{made.json['id']}").json["name"] == "via-header"



@pytest.mark.parametrize("path, header", [("/api/v2/bots", "3"), ("/api/v2/bots", "1"),
                                          ("/api/bots", "latest"), ("/api/v1/bots", "2")])
def test_a_refused_version_answers_with_the_requests_id(tenant, path, header):
    # The refusal ran before the request's own hooks: an empty X-Request-ID, a null
    # request_id, and the previous request's log context still bound.
    problems = path != "/api/v1/bots"  # v1's shape carries the id in the header only
    given = tenant.call("GET", path, headers={"Accept-Version": header,
                                              "X-Request-ID": "client-chosen-id"})
    assert given.status_code in (400, 406)
    assert given.headers["X-Request-ID"] == "client-chosen-id"
    if problems:
        assert given.json["request_id"] == "client-chosen-id"
    made = tenant.call("GET", path, headers={"Accept-Version": header})
    assert len(made.headers["X-Request-ID"]) == 32
    if problems:
        assert made.json["request_id"] == made.headers["X-Request-ID"]
