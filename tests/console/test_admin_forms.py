"""An invalid admin form answers its own page again (422): what the member typed is kept
(never a secret), each error stands beside its field, and nothing is written."""

from __future__ import annotations

import re

from tests.console.conftest import ConsoleClient


def _beside(page: str, field_id: str) -> str:
    """The error shown for the field ``field_id`` (its ``aria-describedby`` target)."""
    field = re.search(rf'<(?:input|select|textarea)[^>]*id="{field_id}"[^>]*>', page)
    assert field, f"no field {field_id}"
    assert 'aria-invalid="true"' in field.group(0), field.group(0)
    error = re.search(rf'id="{field_id}-error"[^>]*>([^<]+)<', page)
    assert error, f"no error beside {field_id}"
    return error.group(1)


def test_an_invalid_key_form_shows_the_form_again_with_the_input_and_the_error(
        console: ConsoleClient, tenant):
    answer = console.post("/app/admin/api-keys", {"name": "ci-bot", "role": "owner",
                                                   "expires_at": "tomorrow"})

    assert answer.status_code == 422
    page = answer.text
    assert "<h1>API keys</h1>" in page and 'action="/app/admin/api-keys"' in page
    assert re.search(r'id="key-name"[^>]*value="ci-bot"', page)
    assert re.search(r'id="key-expires"[^>]*value="tomorrow"', page)
    assert "Must be one of" in _beside(page, "key-role")
    assert "datetime" in _beside(page, "key-expires").lower()
    assert tenant.call("GET", "/api/v1/api-keys").json == []


def test_an_invalid_invitation_shows_the_members_page_with_the_address_and_the_error(
        console: ConsoleClient, tenant):
    answer = console.post("/app/admin/invitations", {"email": "not-an-address",
                                                      "role": "viewer"})

    assert answer.status_code == 422
    page = answer.text
    assert "<h1>Members</h1>" in page
    assert re.search(r'id="invite-email"[^>]*value="not-an-address"', page)
    assert re.search(r'<option selected>viewer</option>', page)
    assert "email" in _beside(page, "invite-email").lower()


def test_an_invalid_budget_row_keeps_every_row_typed_and_marks_the_bad_one(
        console: ConsoleClient, tenant):
    answer = console.post("/app/admin/budgets", {
        "scope": ["workspace", "workspace"], "scope_id": ["", ""], "period": ["day", "month"],
        "soft_limit_usd": ["1.5", ""], "hard_limit_usd": ["2", "lots"]})

    assert answer.status_code == 422
    page = answer.text
    assert "<h1>Budgets</h1>" in page
    assert re.search(r'id="soft-1"[^>]*value="1.5"', page)
    assert re.search(r'id="hard-2"[^>]*value="lots"', page)
    assert "number" in _beside(page, "hard-2")
    assert tenant.call("GET", "/api/v1/budgets").json == []


def test_an_invalid_provider_configuration_keeps_the_typed_json_but_never_the_secret(
        console: ConsoleClient, tenant):
    answer = console.post("/app/admin/providers/llm/openai", {
        "config": '{"base_url": "http://127.0.0.1:9/v1", "timeout": "soon"}',
        "secret_name": "api_key", "secret:api_key": "sk-typed-secret"})

    assert answer.status_code == 422
    page = answer.text
    assert "<h1>Providers</h1>" in page
    assert "&#34;timeout&#34;: &#34;soon&#34;" in page or '"timeout": "soon"' in page
    assert "timeout" in _beside(page, "config-llm-openai")
    assert "sk-typed-secret" not in page
    configured = tenant.call("GET", "/api/v1/providers").json
    openai = next(p for k in configured if k["kind"] == "llm" for p in k["plugins"]
                  if p["id"] == "openai")
    assert openai["configured"] is None
