"""Provider configurations a hostile tenant saves: a value the plugin cannot use is a 422 when
it is saved, never a configuration that fails at every later send."""

from __future__ import annotations

import pytest

EMAIL = {"host": "mail.example.com", "from_address": "ops@example.com",
         "to_addresses": ["team@example.com"]}


@pytest.mark.parametrize("name", ["relay.example.com\r\nRCPT TO:<victim@example.com>",
                                  "relay\nRSET", "two words", "a" * 254])
def test_an_ehlo_name_that_smtp_cannot_send_is_refused_when_saved(tenant, name):
    response = tenant.call("PUT", "/api/v1/providers/notifier/email", json={
        "config": {**EMAIL, "local_hostname": name}, "secrets": {}})
    assert response.status_code == 422, response.json
    assert "local_hostname" in response.json["errors"]["json"]["config"]
    assert tenant.call("DELETE", "/api/v1/providers/notifier/email").status_code == 404


def test_an_ehlo_name_or_address_literal_is_kept(tenant):
    for name in ("relay.example.com", "[192.0.2.1]"):
        response = tenant.call("PUT", "/api/v1/providers/notifier/email", json={
            "config": {**EMAIL, "local_hostname": name}, "secrets": {}})
        assert response.status_code in (200, 201), response.json
