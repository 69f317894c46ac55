"""``PATCH /api/v1/workspace`` changes settings as a JSON merge patch (RFC 7396): an object
merges into the stored one key by key, ``null`` removes a key, anything else replaces it;
what the patch makes is validated as strictly as before, and every change is audited."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant


def _patch(tenant: Tenant, settings):
    return tenant.call("PATCH", "/api/v1/workspace", json={"settings": settings})


def _settings(tenant: Tenant) -> dict:
    return tenant.call("GET", "/api/v1/workspace").json["settings"]


def _audited(superuser, tenant: Tenant) -> list[dict]:
    return [row[0] for row in superuser.execute(
        "SELECT changes FROM audit_logs WHERE workspace_id = %s AND action = "
        "'workspace.update' ORDER BY created_at", (tenant.workspace_id,)).fetchall()]


def test_null_removes_a_settings_key_and_the_removal_is_audited(tenant, superuser):
    assert _patch(tenant, {"llm_fallback": ["builtin"]}).status_code == 200

    removed = _patch(tenant, {"llm_fallback": None})

    assert removed.status_code == 200, removed.json
    assert "llm_fallback" not in removed.json["settings"]
    assert "llm_fallback" not in _settings(tenant)
    last = _audited(superuser, tenant)[-1]["settings"]
    assert last["before"]["llm_fallback"] == ["builtin"] and "llm_fallback" not in last["after"]
    # Removing what is not there changes nothing: no audit row.
    assert _patch(tenant, {"llm_fallback": None}).status_code == 200
    assert len(_audited(superuser, tenant)) == 2


def test_a_nested_object_merges_key_by_key_and_null_removes_one_entry(tenant):
    assert _patch(tenant, {"llm": {"aliases": {"fast": ["builtin"]},
                                   "cache": {"ttl_seconds": 60}}}).status_code == 200
    assert _patch(tenant, {"llm": {"aliases": {"smart": ["builtin"]},
                                   "cache": {"enabled": False}}}).status_code == 200
    assert _settings(tenant)["llm"] == {"aliases": {"fast": ["builtin"], "smart": ["builtin"]},
                                        "cache": {"ttl_seconds": 60, "enabled": False}}

    assert _patch(tenant, {"llm": {"aliases": {"fast": None}}}).status_code == 200
    assert _settings(tenant)["llm"]["aliases"] == {"smart": ["builtin"]}
    assert _patch(tenant, {"llm": None}).status_code == 200
    assert "llm" not in _settings(tenant)


def test_a_partial_object_keeps_what_it_does_not_name(tenant):
    """oidc's default_role fell back to 'user' when a later patch named only the domains."""
    assert _patch(tenant, {"oidc": {"allowed_domains": ["example.com"],
                                    "default_role": "viewer"}}).status_code == 200
    assert _patch(tenant, {"oidc": {"allowed_domains": ["example.org"]}}).status_code == 200
    assert _settings(tenant)["oidc"] == {"allowed_domains": ["example.org"],
                                         "default_role": "viewer"}


@pytest.mark.parametrize("settings", [
    {"nope": 1},
    {"llm": {"nope": None}},
    {"llm": {"aliases": {"fast": "builtin"}}},
    {"execution": {"max_timeout_seconds": "soon"}},
    {"defaults": {"llm": "no-such-provider"}},
    {"llm": {"aliases": {"fast": ["no-such-provider"]}}},
])
def test_bad_settings_are_still_422_and_write_nothing(tenant, superuser, settings):
    assert _patch(tenant, {"llm_fallback": ["builtin"]}).status_code == 200
    before = _settings(tenant)

    refused = _patch(tenant, settings)

    assert refused.status_code == 422, refused.json
    assert _settings(tenant) == before and len(_audited(superuser, tenant)) == 1


def test_what_the_merge_makes_is_checked_as_a_whole(tenant):
    """Two patches of 30 aliases each are fine alone; 60 together break the limit of 50."""
    first = {f"a{n}": ["builtin"] for n in range(30)}
    second = {f"b{n}": ["builtin"] for n in range(30)}
    assert _patch(tenant, {"llm": {"aliases": first}}).status_code == 200

    refused = _patch(tenant, {"llm": {"aliases": second}})

    assert refused.status_code == 422, refused.json
    assert set(_settings(tenant)["llm"]["aliases"]) == set(first)
