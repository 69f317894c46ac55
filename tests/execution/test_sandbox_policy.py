"""How code runs is the platform's: a workspace admin cannot change it, stored configurations
lose what they can no longer hold, and a host below the required level runs nothing (the run
fails with IsolationUnavailable and /health says so) instead of falling back silently."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from codex32.config import ConfigError, Settings
from codex32.execution import sandbox
from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from codex32.runtime import activated
from codex32.runtime import of as runtime_of
from codex32.testing.receivers import free_port
from tests.execution.conftest import wait_for, worker_env
from tests.execution.sandbox_support import make_request

MIGRATION = (Path(__file__).resolve().parents[2] / "migrations" / "versions"
             / "0008_executor_platform_settings.py")
PLATFORM_KEYS = {"python": "/usr/bin/python3", "run_as_uid": 1000, "run_as_gid": 42,
                 "minimum_isolation": "none"}


@pytest.mark.parametrize("key", sorted(PLATFORM_KEYS))
def test_a_workspace_admin_cannot_set_how_the_sandbox_runs_code(tenant, key):
    path = "/api/v1/providers/executor/subprocess"
    response = tenant.call("PUT", path, json={"config": {key: PLATFORM_KEYS[key]}})
    assert response.status_code == 422, response.json
    listed = tenant.call("GET", "/api/v1/providers")
    assert listed.status_code == 200
    (executors,) = [kind for kind in listed.json if kind["kind"] == "executor"]
    (subprocess_executor,) = [item for item in executors["plugins"]
                              if item["id"] == "subprocess"]
    assert subprocess_executor["configured"] is None  # nothing was written
    assert set(subprocess_executor["config_schema"]["properties"]) == {"workdir_mb"}


def test_a_workspace_may_lower_its_working_directory_within_the_platforms_maximum(tenant):
    path = "/api/v1/providers/executor/subprocess"
    assert tenant.call("PUT", path, json={"config": {"workdir_mb": 32}}).status_code == 200
    too_big = sandbox.SandboxPolicy().max_workdir_mb + 1
    refused = tenant.call("PUT", path, json={"config": {"workdir_mb": too_big}})
    assert refused.status_code == 422, refused.json


@pytest.mark.parametrize(("name", "value"), [
    ("CODEX32_SANDBOX_ISOLATION", "chroot"), ("CODEX32_SANDBOX_UID_RANGE", "0-10"),
    ("CODEX32_SANDBOX_UID_RANGE", "200000"), ("CODEX32_SANDBOX_MAX_WORKDIR_MB", "0"),
])
def test_bad_sandbox_settings_refuse_to_start(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"{name}|LOW-HIGH"):
        Settings.from_env({"CODEX32_DATA_DIR": str(tmp_path), name: value})


def test_the_sandbox_settings_are_read_from_the_environment(tmp_path):
    settings = Settings.from_env({
        "CODEX32_DATA_DIR": str(tmp_path), "CODEX32_SANDBOX_PYTHON": "/usr/bin/python3",
        "CODEX32_SANDBOX_ISOLATION": "Process", "CODEX32_SANDBOX_UID_RANGE": "300000-300009",
        "CODEX32_SANDBOX_MAX_WORKDIR_MB": "128"})
    policy = sandbox.SandboxPolicy.from_settings(settings)
    assert policy == sandbox.SandboxPolicy(python="/usr/bin/python3", isolation="process",
                                           uid_range=(300000, 300009), max_workdir_mb=128)


@pytest.fixture()
def broken_host(app):
    """The platform's policy on a host whose sandbox tool does not work (forced here)."""
    policy = sandbox.SandboxPolicy(bwrap="/bin/false", isolation="namespace",
                                   uid_range=(300100, 300199))
    with activated(dataclasses.replace(runtime_of(app), sandbox=policy)):
        yield policy


def test_below_the_required_isolation_a_run_fails_and_never_runs_weaker(broken_host, tmp_path):
    if not sandbox.SandboxPolicy().drops_identity:
        pytest.skip("the namespace level needs root")
    marker = tmp_path / "ran"
    code = (f"def main(event, context):\n    open({str(marker)!r}, 'w').write('x')\n"
            "    return 'ran'\n")
    outcome = SubprocessExecutor().run(make_request(code), threading.Event())
    assert outcome.status == "failed"
    assert outcome.error["type"] == "IsolationUnavailable"
    assert "CODEX32_SANDBOX_ISOLATION" in outcome.error["message"]
    assert not marker.exists()
    assert not SubprocessExecutor().health_check().ok


def test_health_reports_a_sandbox_below_the_required_level(make_app, tmp_path):
    if not sandbox.SandboxPolicy().drops_identity:
        pytest.skip("the namespace level needs root")
    app = make_app(sandbox_bwrap="/bin/false", sandbox_uid_range=(300200, 300299))
    response = app.test_client().get("/health")
    again = app.test_client().get("/health")
    assert response.status_code == 503
    check = response.json["checks"]["sandbox"]
    assert check["ok"] is False and check["isolation"] == "namespace"
    assert "CODEX32_SANDBOX_ISOLATION" in check["error"]
    assert again.json["checks"]["sandbox"] == check  # probed once, answered from the cache


def test_a_worker_whose_host_cannot_give_the_isolation_is_not_ready(database, tmp_path):
    """Its probe server answers 503 with the sandbox check failing, so an orchestrator keeps
    traffic (and rollouts) away from a worker that would fail every run."""
    if not sandbox.SandboxPolicy().drops_identity:
        pytest.skip("the namespace level needs root")
    port = free_port()
    env = worker_env(database, tmp_path / "data", CODEX32_WORKER_PORT=port,
                     CODEX32_SANDBOX_BWRAP="/bin/false",
                     CODEX32_SANDBOX_UID_RANGE="300300-300309")
    process = subprocess.Popen([sys.executable, "-m", "codex32.cli", "worker"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}/health/ready"

    def answer() -> tuple[int, dict] | None:
        assert process.poll() is None, "the worker exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except OSError:
            return None

    try:
        status, body = wait_for(answer, timeout=30, message="the worker's probe server")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    assert status == 503 and body["status"] == "not ready", body
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["sandbox"]["ok"] is False
    assert "CODEX32_SANDBOX_ISOLATION" in body["checks"]["sandbox"]["error"]


def test_health_reports_a_working_sandbox(app, client):
    check = client.get("/health").json["checks"]["sandbox"]
    assert check["ok"] is True, check
    assert check["isolation"] == runtime_of(app).sandbox.isolation


def test_stored_configurations_lose_the_keys_a_workspace_can_no_longer_set(
        database, superuser, tenant, other_tenant):
    for owner in (tenant, other_tenant):
        superuser.execute(
            "INSERT INTO provider_configs (workspace_id, kind, plugin_id, config, version) "
            "VALUES (%s, 'executor', 'subprocess', %s, 3)",
            (owner.workspace_id, json.dumps({**PLATFORM_KEYS, "workdir_mb": 32})))
    spec = importlib.util.spec_from_file_location("migration_0008", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    engine = create_engine(database.urls.owner)  # migrations run as the owner role
    try:
        with engine.begin() as connection, Operations.context(
                MigrationContext.configure(connection)):
            migration.upgrade()
    finally:
        engine.dispose()
    rows = superuser.execute(
        "SELECT config, version FROM provider_configs WHERE workspace_id = ANY(%s) "
        "AND kind = 'executor'", ([tenant.workspace_id, other_tenant.workspace_id],)).fetchall()
    assert rows == [({"workdir_mb": 32}, 4)] * 2
    forced = superuser.execute("SELECT relforcerowsecurity FROM pg_class "
                               "WHERE relname = 'provider_configs'").fetchone()[0]
    assert forced is True
    listed = tenant.call("GET", "/api/v1/providers").json
    (executors,) = [kind for kind in listed if kind["kind"] == "executor"]
    (stored,) = [item["configured"] for item in executors["plugins"] if item["id"] == "subprocess"]
    assert stored["config"] == {"workdir_mb": 32} and stored["version"] == 4

