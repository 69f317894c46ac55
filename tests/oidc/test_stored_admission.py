"""OIDC admission reads the workspace's stored ``settings.oidc``: a role the API would refuse
today (a row saved before the check, or by hand) never admits anyone above ``user``."""

from __future__ import annotations

import pytest
from psycopg.types.json import Jsonb

from tests.conftest import sign_up
from tests.oidc.conftest import admitted_by_domain, flow, new_sub


@pytest.fixture()
def platform_client(platform_app):
    return platform_app.test_client()


@pytest.mark.parametrize("stored", ["admin", "api_user", "owner", 5])
def test_a_stored_default_role_above_user_admits_as_viewer(platform_client, provider, superuser,
                                                           stored):
    tenant = sign_up(platform_client)
    superuser.execute("UPDATE workspaces SET settings = %s WHERE id = %s", (Jsonb(
        {"oidc": {"allowed_domains": ["corp.example"], "default_role": stored}}),
        tenant.workspace_id))
    assert admitted_by_domain(platform_client, provider, tenant)[1] == "viewer"


@pytest.mark.parametrize("stored", ["corp.example", {"allowed_domains": "corp.example"},
                                    {"allowed_domains": [5, None]}])
def test_unreadable_stored_admission_settings_admit_nobody_by_domain(platform_client, provider,
                                                                     superuser, stored):
    tenant = sign_up(platform_client)
    superuser.execute("UPDATE workspaces SET settings = %s WHERE id = %s",
                      (Jsonb({"oidc": stored}), tenant.workspace_id))
    sub = new_sub()
    response = flow(platform_client, provider, "corp-sso", tenant.slug, sub,
                    email=f"{sub}@corp.example", email_verified=True)
    assert response.status_code == 403, response.json
