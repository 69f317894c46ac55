"""``expand=``: related objects in the answer, one query per kind whatever the page size."""

from __future__ import annotations

import contextlib

import psycopg


@contextlib.contextmanager
def _counting():
    """Count every statement sent to PostgreSQL (ORM and driver paths alike)."""
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):
        sent.append(str(query))
        return original(self, query, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def _statements(tenant, url: str) -> int:
    with _counting() as sent:
        response = tenant.call("GET", url)
    assert response.status_code == 200, response.json
    return len(sent)


def test_a_bots_latest_version_is_expanded(tenant):
    bot = tenant.create_bot("expanded")
    tenant.call("POST", f"/api/v2/bots/{bot['id']}/versions",
                json={"code": "def main(event, context):\n    return 2\n", "message": "two"})
    tenant.create_bot("no-code", code=None)
    listed = tenant.call("GET", "/api/v2/bots?expand=latest_version").json["data"]
    by_name = {item["name"]: item for item in listed}
    latest = by_name["expanded"]["latest_version"]
    assert latest["number"] == 2 and latest["message"] == "two" and "code" not in latest
    assert by_name["no-code"]["latest_version"] is None
    plain = tenant.call("GET", "/api/v2/bots").json["data"]
    assert all("latest_version" not in item for item in plain)
    one = tenant.call("GET", f"/api/v2/bots/{bot['id']}?expand=latest_version").json
    assert one["latest_version"]["number"] == 2 and "settings" in one


def test_an_executions_bot_is_expanded(tenant):
    bot = tenant.create_bot("runner")
    run = tenant.call("POST", f"/api/v2/bots/{bot['id']}/executions", json={}).json
    listed = tenant.call("GET", "/api/v2/executions?expand=bot").json["data"]
    assert listed[0]["bot"]["name"] == "runner"
    one = tenant.call("GET", f"/api/v2/executions/{run['id']}?expand=bot").json
    assert one["bot"]["id"] == bot["id"] and one["logs"] == ""


def test_expanding_costs_one_query_whatever_the_page_size(tenant):
    for n in range(2):
        bot = tenant.create_bot(f"few-{n}")
        tenant.call("POST", f"/api/v2/bots/{bot['id']}/executions", json={})
    few = {path: _statements(tenant, f"{path}?limit=2&expand={kind}")
           for path, kind in (("/api/v2/bots", "latest_version"), ("/api/v2/executions", "bot"))}
    plain = {path: _statements(tenant, f"{path}?limit=2") for path in few}
    for n in range(10):
        bot = tenant.create_bot(f"many-{n}")
        tenant.call("POST", f"/api/v2/bots/{bot['id']}/executions", json={})
    many = {path: _statements(tenant, f"{path}?limit=12&expand={kind}")
            for path, kind in (("/api/v2/bots", "latest_version"), ("/api/v2/executions", "bot"))}
    assert many == few
    assert {path: count - 1 for path, count in few.items()} == plain
