"""v2 lists: keyset cursors stable under inserts and deletes, the envelope, signed cursors."""

from __future__ import annotations

import base64
import json

import pytest


def _walk(tenant, path: str, limit: int, between=None) -> list[dict]:
    """Every item of a v2 list, ``limit`` at a time; ``between(n)`` runs after answer n."""
    seen, cursor, answers = [], None, 0
    while True:
        url = f"{path}{'&' if '?' in path else '?'}limit={limit}"
        response = tenant.call("GET", url + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.json
        assert set(response.json) == {"data", "next_cursor"}
        seen += response.json["data"]
        cursor = response.json["next_cursor"]
        answers += 1
        if cursor is None:
            return seen
        if between:
            between(answers)


def test_a_bot_list_walks_every_bot_once_in_order(tenant):
    made = [tenant.create_bot(f"walk-{n}")["id"] for n in range(7)]
    listed = [bot["id"] for bot in _walk(tenant, "/api/v2/bots", 3)]
    assert listed == made[::-1]


def test_the_cursor_holds_its_place_while_bots_are_added_and_deleted(tenant):
    """Offset pages would repeat or skip items here; the keyset walk sees each old bot once."""
    made = [tenant.create_bot(f"steady-{n}")["id"] for n in range(9)]

    def churn(answer: int) -> None:
        tenant.create_bot(f"new-{answer}")  # newer: before the cursor, never seen
        if answer == 1:  # delete the last bot already seen and one not seen yet
            for gone in (made[-3], made[2]):
                assert tenant.call("DELETE", f"/api/v2/bots/{gone}").status_code == 204

    listed = [bot["id"] for bot in _walk(tenant, "/api/v2/bots", 3, churn)]
    expected = [bot for bot in made[::-1] if bot != made[2]]
    assert listed == expected
    assert len(listed) == len(set(listed))


def test_executions_and_audit_logs_walk_by_cursor(tenant):
    bot = tenant.create_bot()
    runs = [tenant.call("POST", f"/api/v2/bots/{bot['id']}/executions", json={}).json["id"]
            for _ in range(5)]
    listed = [item["id"] for item in _walk(tenant, "/api/v2/executions", 2)]
    assert listed == runs[::-1]
    for_bot = [item["id"] for item in _walk(tenant, f"/api/v2/bots/{bot['id']}/executions", 2)]
    assert for_bot == runs[::-1]
    audit = _walk(tenant, "/api/v2/audit-logs?action=execution.create", 2)
    assert [entry["resource_id"] for entry in audit] == runs[::-1]


def test_versions_walk_newest_first(tenant):
    bot = tenant.create_bot()
    for n in range(4):
        tenant.call("POST", f"/api/v2/bots/{bot['id']}/versions",
                    json={"code": f"def main(event, context):\n    return {n}\n"})
    numbers = [v["number"] for v in _walk(tenant, f"/api/v2/bots/{bot['id']}/versions", 2)]
    assert numbers == [5, 4, 3, 2, 1]


def _next_cursor(tenant, path: str = "/api/v2/bots") -> str:
    for n in range(2):
        tenant.create_bot(f"c-{n}")
    cursor = tenant.call("GET", f"{path}?limit=1").json["next_cursor"]
    assert cursor
    return cursor


def _forge(cursor: str, **changes) -> str:
    encoded, _, mac = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    payload.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


@pytest.mark.parametrize("bad", ["x", "not.base64!", "e30.e30", "." * 5, "%00", "a" * 1025])
def test_a_malformed_cursor_is_a_400_problem(tenant, bad):
    response = tenant.call("GET", "/api/v2/bots", query_string={"cursor": bad})
    assert response.status_code in (400, 422), response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["location"] == "query"


def test_an_altered_cursor_is_refused(tenant):
    cursor = _next_cursor(tenant)
    for forged in (_forge(cursor, k=["2000-01-01T00:00:00+00:00", "0" * 32]),
                   cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")):
        response = tenant.call("GET", "/api/v2/bots", query_string={"cursor": forged})
        assert response.status_code == 400, response.json
        assert response.json["type"] == "urn:codex32:problem:malformed-request"


def test_a_cursor_of_another_list_is_refused(tenant):
    cursor = _next_cursor(tenant)
    response = tenant.call("GET", "/api/v2/audit-logs", query_string={"cursor": cursor})
    assert response.status_code == 400
    assert "another list" in response.json["detail"]


def test_the_envelope_is_the_same_for_lists_in_one_answer(tenant):
    for path in ("/api/v2/members", "/api/v2/api-keys"):
        body = tenant.call("GET", path).json
        assert set(body) == {"data", "next_cursor"} and body["next_cursor"] is None, path
    assert tenant.call("GET", "/api/v2/members").json["data"][0]["email"] == tenant.email
