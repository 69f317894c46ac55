"""A plugin that stops loading: its saved configuration stays listed as unavailable with the
load error, ``/test`` says it failed to load, and ``/health`` reports the broken plugin.

The plugin is installed into a temporary site folder the way pip would (as in
tests/test_plugin_manager.py) and breaks at import when ``C32TEST_PAGER_BROKEN`` is set, so one
app loads it and the next one, on the same database, does not.
"""

from __future__ import annotations

import sys

import pytest

from tests.test_plugin_manager import install

PAGER = '''
import os

from codex32.plugins import hookimpl
from codex32.plugins.interfaces import Notifier

if os.environ.get("C32TEST_PAGER_BROKEN"):
    raise ImportError(f"the pager's SDK is missing (read {__file__} with key "
                      f"{os.environ['C32TEST_PAGER_API_KEY']}, token=pager-token-9876)")


class PagerNotifier(Notifier):
    id = "pager"
    title = "Pager"
    config_schema = {"type": "object", "properties": {"channel": {"type": "string"}},
                     "additionalProperties": False}
    secrets = ("token",)

    def notify(self, notification):
        pass


@hookimpl
def register_notifiers(register):
    register(PagerNotifier)
'''


PAGER_KEY = "pgk-8c1d44e0a9f2"  # in the process's environment, quoted by the import error


@pytest.fixture()
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install(tmp_path, "c32test_pager", PAGER)
    yield tmp_path
    sys.modules.pop("c32test_pager", None)


def _call(app, tenant, method, path, **kwargs):
    return app.test_client().open(path, method=method, headers=tenant.headers, **kwargs)


def _pager(app, tenant):
    kinds = {k["kind"]: k for k in _call(app, tenant, "GET", "/api/v1/providers").json}
    return {p["id"]: p for p in kinds["notifier"]["plugins"]}.get("pager")


@pytest.fixture()
def broken_app(site, make_app, tenant, monkeypatch):
    """An app whose pager plugin no longer loads, after ``tenant`` configured it."""
    working = make_app()
    saved = _call(working, tenant, "PUT", "/api/v1/providers/notifier/pager",
                  json={"config": {"channel": "#ops"}, "secrets": {"token": "pager-token-1234"}})
    assert saved.status_code == 200, saved.json
    monkeypatch.setenv("C32TEST_PAGER_BROKEN", "1")
    monkeypatch.setenv("C32TEST_PAGER_API_KEY", PAGER_KEY)
    sys.modules.pop("c32test_pager", None)
    return make_app()


def test_a_loaded_plugins_configuration_is_listed_available(site, make_app, tenant):
    app = make_app()
    assert _call(app, tenant, "PUT", "/api/v1/providers/notifier/pager",
                 json={"config": {"channel": "#ops"}}).status_code == 200
    pager = _pager(app, tenant)
    assert pager["available"] is True and pager["plugin"] == "c32test_pager"
    assert app.test_client().get("/health").json["checks"]["plugins"]["ok"] is True


def test_a_configuration_whose_plugin_broke_stays_listed_as_unavailable(broken_app, tenant):
    pager = _pager(broken_app, tenant)
    assert pager is not None, "the saved configuration disappeared"
    assert pager["available"] is False
    assert pager["configured"]["config"] == {"channel": "#ops"}
    assert pager["configured"]["secrets"] == {"token": "********"}
    assert pager["load_error"]["name"] == "c32test_pager"
    assert pager["load_error"]["version"] == "1.2.3"
    assert "ImportError: the pager's SDK is missing" in pager["load_error"]["error"]
    assert "failed to load" in pager["detail"]
    assert "pager-token-1234" not in str(pager)


def test_testing_it_says_the_plugin_failed_to_load(broken_app, tenant):
    response = _call(broken_app, tenant, "POST", "/api/v1/providers/notifier/pager/test")
    assert response.status_code == 200, response.json
    assert response.json["ok"] is False
    assert "c32test_pager failed to load" in response.json["detail"]
    assert "the pager's SDK is missing" in response.json["detail"]
    # Never configured: still "not installed".
    other = _call(broken_app, tenant, "POST", "/api/v1/providers/notifier/nope/test")
    assert other.status_code == 404


def test_its_stale_configuration_can_be_deleted(broken_app, tenant):
    assert _call(broken_app, tenant, "DELETE",
                 "/api/v1/providers/notifier/pager").status_code == 204
    assert _pager(broken_app, tenant) is None


def test_health_reports_the_broken_plugin(broken_app, make_app, site, monkeypatch):
    health = broken_app.test_client().get("/health")
    assert health.status_code == 503
    plugins = health.json["checks"]["plugins"]
    assert plugins["ok"] is False
    assert plugins["broken"] == [{"name": "c32test_pager", "version": "1.2.3"}]
    assert "SDK" not in health.get_data(as_text=True)  # errors only behind authentication
    monkeypatch.delenv("C32TEST_PAGER_BROKEN")
    sys.modules.pop("c32test_pager", None)
    repaired = make_app().test_client().get("/health")
    assert repaired.json["checks"]["plugins"]["ok"] is True
    assert repaired.json["checks"]["plugins"]["broken"] == []


def test_a_configuration_saved_before_its_plugin_was_recorded_is_still_listed(
        broken_app, tenant, superuser):
    superuser.execute("UPDATE provider_configs SET plugin = NULL WHERE workspace_id = %s",
                      (tenant.workspace_id,))
    pager = _pager(broken_app, tenant)
    assert pager["available"] is False
    # The entry point is not named like the plugin id: the broken plugin cannot be told.
    assert pager["load_error"] is None
    assert "no installed plugin provides it" in pager["detail"]


def _leaks(text: str, site) -> list[str]:
    return [found for found in (PAGER_KEY, "pager-token-9876", str(site)) if found in text]


def test_an_admin_sees_the_load_error_without_secrets_or_folders(broken_app, tenant, site):
    # The import error's text was shown as the plugin raised it: an environment secret it
    # quoted, a token=... pair and the server's folders with it.
    pager = _pager(broken_app, tenant)
    plugins = {p["name"]: p for p in _call(broken_app, tenant, "GET", "/api/v1/plugins")
               .json["plugins"]}
    tested = _call(broken_app, tenant, "POST", "/api/v1/providers/notifier/pager/test").json
    for text in (pager["load_error"]["error"], pager["detail"],
                 plugins["c32test_pager"]["error"], tested["detail"]):
        assert "ImportError: the pager's SDK is missing" in text, text
        assert "c32test_pager.py" in text and not _leaks(text, site), text


@pytest.mark.parametrize("role", ["user", "viewer"])
def test_a_member_sees_that_a_plugin_is_broken_not_its_error(broken_app, tenant, site, role):
    member = tenant.add_member(role)
    client = broken_app.test_client()
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins", headers=member["headers"])
               .json["plugins"]}
    broken = plugins["c32test_pager"]
    assert broken["error"] and "SDK" not in broken["error"] and not _leaks(str(broken), site)
    assert "admin" in broken["error"], broken
    if role == "user":  # a user may list the providers (a viewer may not)
        kinds = client.get("/api/v1/providers", headers=member["headers"]).json
        pager = {p["id"]: p for k in kinds for p in k["plugins"]}["pager"]
        assert pager["available"] is False and pager["load_error"]["name"] == "c32test_pager"
        assert "failed to load" in pager["detail"], pager
        assert "SDK" not in str(pager) and not _leaks(str(pager), site), pager
