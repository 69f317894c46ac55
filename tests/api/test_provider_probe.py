"""``POST /providers/{kind}/{id}/test`` runs the plugin's own ``probe()``: the health check by
default, a test notification for a notifier (tests/api/test_notifier_test.py), whatever a
plugin overrides it with otherwise; the core names no kind."""

from __future__ import annotations

from codex32.plugins.api import HealthResult
from codex32.plugins.defaults.hashing_embedder import HashingEmbedder


def test_testing_a_plugin_runs_its_probe_with_the_workspace(tenant, monkeypatch):
    probed: list[str] = []

    def probe(self, workspace_id: str) -> HealthResult:
        probed.append(workspace_id)
        return HealthResult(ok=False, detail="the index is still building")

    monkeypatch.setattr(HashingEmbedder, "probe", probe)
    response = tenant.call("POST", "/api/v1/providers/embedder/hashing/test")

    assert response.status_code == 200, response.json
    assert (response.json["ok"], response.json["detail"]) == (False, "the index is still building")
    assert probed == [tenant.workspace_id]


def test_by_default_a_probe_is_the_health_check(tenant):
    response = tenant.call("POST", "/api/v1/providers/embedder/hashing/test")

    assert (response.json["ok"], response.json["detail"]) == (True, "no check needed")
