"""A workspace's stored ``settings.execution`` and ``settings.builder`` as read by the bot
settings check, a run's maxima and the builder: a value the API would refuse today (a row
saved before a check existed) never crashes them and never widens what bots may do."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.types.json import Jsonb

from codex32.services.bot_settings import Maxima
from codex32.services.builder.validation.requirements import own_allowlist

PLATFORM = Maxima(timeout_seconds=300, memory_mb=1024, max_retries=5, retry_backoff_seconds=600,
                  network=True)


def _store(superuser, workspace_id: str, settings: dict[str, Any]) -> None:
    superuser.execute("UPDATE workspaces SET settings = %s WHERE id = %s",
                      (Jsonb(settings), workspace_id))


@pytest.mark.parametrize("execution", ["x", ["max_timeout_seconds"],
                                       {"max_timeout_seconds": "10", "allow_network": "no"}])
def test_a_bot_settings_change_is_checked_without_a_500(tenant, superuser, execution):
    bot = tenant.create_bot()
    _store(superuser, tenant.workspace_id, {"execution": execution})
    response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                           json={"settings": {"timeout_seconds": 5}})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("allow_network", ["no", 0, None, "false"])
def test_an_unreadable_allow_network_keeps_bots_off_the_network(allow_network):
    lowered = PLATFORM.lowered_by({"execution": {"allow_network": allow_network}})
    assert lowered.network is False


def test_unreadable_maxima_leave_the_platforms():
    assert PLATFORM.lowered_by({"execution": "x"}) == PLATFORM
    assert PLATFORM.lowered_by({"execution": {"max_timeout_seconds": True}}) == PLATFORM


def test_an_unreadable_builder_section_narrows_nothing():
    assert own_allowlist({"builder": "requests"}) is None
    assert own_allowlist({"builder": {"allowed_requirements": ["requests", 5]}}) == ["requests"]


@pytest.mark.parametrize("name, value", [("max_timeout_seconds", 10**30),
                                         ("max_memory_mb", 10**6), ("max_retries", 99),
                                         ("max_retry_backoff_seconds", 10**9)])
def test_a_workspace_maximum_above_the_platforms_is_refused(tenant, name, value):
    # A workspace maximum only lowers the platform's: one above it bounds nothing, and
    # 10**30 was stored (and shown back as 1e+30) as if it did.
    response = tenant.call("PATCH", "/api/v1/workspace",
                           json={"settings": {"execution": {name: value}}})
    assert response.status_code == 422, response.json
    assert "platform's maximum" in response.json["message"]
    shown = tenant.call("GET", "/api/v1/workspace").json["settings"]
    assert name not in (shown.get("execution") or {})
