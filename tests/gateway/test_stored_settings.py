"""Workspace settings as they are stored, not as the API accepts them today: a row saved
before a validation existed (or by hand) must not turn every chat into a 500. A value the
gateway cannot read counts as unset, or refuses the request with a clear 4xx; never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.types.json import Jsonb

CHAT = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0}

UNREADABLE: list[dict[str, Any]] = [
    {"llm": {"cache": "yes"}},
    {"llm": {"cache": {"ttl_seconds": "x", "max_entries": "many"}}},
    {"llm": {"cache": {"ttl_seconds": None, "max_entries": None}}},
    {"llm": {"cooldown": "x"}},
    {"llm": {"cooldown": {"failures": "x", "window_seconds": [], "cooldown_seconds": {}}}},
    {"llm": {"aliases": {"default": [5]}}},
    {"llm": {"aliases": {"default": "builtin"}}},
    {"llm": {"aliases": ["default"]}},
    {"llm": {"prices": {"builtin/builtin": {"input": "NaN", "output": "Infinity"}}}},
    {"defaults": "builtin"},
    {"defaults": {"llm": 5}},
]


def _store(superuser, workspace_id: str, settings: dict[str, Any]) -> None:
    superuser.execute("UPDATE workspaces SET settings = %s WHERE id = %s",
                      (Jsonb(settings), workspace_id))


@pytest.mark.parametrize("settings", UNREADABLE, ids=lambda s: str(s)[:60])
def test_unreadable_stored_settings_never_make_a_chat_or_a_listing_fail_with_500(
        tenant, superuser, settings):
    _store(superuser, tenant.workspace_id, settings)
    for _ in range(2):  # the second may be a cache hit
        answer = tenant.call("POST", "/api/v1/llm/chat", json=CHAT)
        assert answer.status_code in (200, 422), answer.json
        assert answer.json.get("message") != "internal error; the request was not applied"
    assert tenant.call("GET", "/api/v1/providers").status_code == 200
    assert tenant.call("GET", "/api/v1/workspace").status_code == 200
    assert tenant.call("GET", "/api/v1/llm/deployments").status_code in (200, 422)


def test_an_unreadable_alias_chain_is_a_clear_422_naming_it(tenant, superuser):
    _store(superuser, tenant.workspace_id, {"llm": {"aliases": {"default": [5]}}})
    answer = tenant.call("POST", "/api/v1/llm/chat", json=CHAT)
    assert answer.status_code == 422 and "default" in answer.json["message"]


@pytest.mark.parametrize("price", [{"input": "NaN", "output": "1"},
                                   {"input": "1", "output": "Infinity"},
                                   {"input": "1", "output": "1", "cached_input": "-1"},
                                   {"input": "sNaN", "output": "1"}])
def test_a_stored_price_that_is_no_amount_is_not_used(price):
    """A NaN cost would settle a budget at NaN, which no hard limit ever compares above."""
    from codex32.services.gateway import prices

    assert prices.override_for({"prices": {"openai/gpt-x": price}}, "openai", "gpt-x") is None
