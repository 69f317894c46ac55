"""GraphQL fixtures: a client call that posts an operation with a tenant's credentials."""

from __future__ import annotations

from typing import Any

import pytest

PATH = "/api/graphql"
CODE = "def main(event, context):\n    return {'ok': True}\n"


def gql(client: Any, headers: dict[str, str], query: str,
        variables: dict[str, Any] | None = None) -> Any:
    """POST ``query``; the raw response (status, JSON body)."""
    return client.post(PATH, json={"query": query, "variables": variables or {}},
                       headers=headers)


def data_of(response: Any) -> dict[str, Any]:
    """The ``data`` of a response that must have succeeded without errors."""
    assert response.status_code == 200, (response.status_code, response.json)
    assert "errors" not in response.json, response.json["errors"]
    return response.json["data"]


def error_codes(response: Any) -> list[str]:
    """The ``extensions.code`` of each error of a response."""
    return [error["extensions"]["code"] for error in response.json.get("errors", [])]


@pytest.fixture()
def ask(tenant):
    """Post an operation as the tenant's admin; returns the response."""
    def post(query: str, variables: dict[str, Any] | None = None, headers=None) -> Any:
        return gql(tenant.client, headers or tenant.headers, query, variables)
    return post
