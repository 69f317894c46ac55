"""The one runtime: each app and worker has its own, GET requests start no process, the
instance cache closes what it drops, and every process runs the plugins' ``startup`` hooks."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from codex32.auth import passwords
from codex32.plugins.interfaces import Notifier
from codex32.runtime import activated, bootstrap, current
from codex32.runtime import of as runtime_of
from codex32.runtime.instances import Instances
from tests.conftest import make_settings, sign_up
from tests.execution.conftest import WorkerStarter, wait_for
from tests.test_plugin_manager import install

# --- two apps in one process -----------------------------------------------------------------


def test_two_apps_in_one_process_each_keep_their_own_settings(make_app):
    """Hashing cost and the sandbox's maximum working directory are the app's own, not those
    of the app built last."""
    first = make_app(argon2_time_cost=1, sandbox_max_workdir_mb=100)
    second = make_app(argon2_time_cost=2, sandbox_max_workdir_mb=200)
    for app, cost, accepted in ((first, 1, 422), (second, 2, 200)):
        with app.app_context():
            assert f",t={cost}," in passwords.hash_password("correct horse battery")
        tenant = sign_up(app.test_client())
        response = tenant.call("PUT", "/api/v1/providers/executor/subprocess",
                               json={"config": {"workdir_mb": 150}})
        assert response.status_code == accepted, response.json
    assert runtime_of(first).checks is not runtime_of(second).checks


def test_every_app_in_a_process_measures_its_own_requests(app, make_app):
    from prometheus_client import REGISTRY

    def served() -> float:
        return REGISTRY.get_sample_value("flask_http_request_duration_seconds_count", {
            "method": "GET", "url_rule": "/health/alive", "status": "200"}) or 0.0

    app.test_client().get("/health/alive")  # the process's first app exists and has served
    before = served()
    second = make_app().test_client()
    for _ in range(3):
        assert second.get("/health/alive").status_code == 200
    assert served() == before + 3


def test_outside_an_app_and_without_an_activated_runtime_there_is_none():
    with pytest.raises(RuntimeError, match="no Codex-32 runtime"):
        current()


# --- GET requests never start a process ------------------------------------------------------


@contextlib.contextmanager
def refusing_processes() -> Iterator[list[Any]]:
    """Refuse, and record, any attempt to start a process (``subprocess.run`` goes through
    ``Popen`` too)."""
    started: list[Any] = []

    class Refused(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            started.append(args)
            raise AssertionError(f"a request started a process: {args!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", Refused)
        yield started


def test_get_requests_start_no_process(make_app):
    # A policy no earlier test probed, so nothing cached in this process answers for it; the
    # app probes it once, at start.
    app = make_app(sandbox_uid_range=(301000, 301099), sandbox_max_workdir_mb=77)
    tenant = sign_up(app.test_client())
    with refusing_processes() as started:
        plugins = tenant.call("GET", "/api/v1/plugins")
        health = app.test_client().get("/health")
    assert started == []
    assert plugins.status_code == 200, plugins.json
    assert plugins.json["isolation"]["subprocess"] == runtime_of(app).sandbox.isolation
    assert health.json["checks"]["sandbox"]["isolation"] == runtime_of(app).sandbox.isolation


# --- the instance cache ----------------------------------------------------------------------


class Recording(Notifier):
    id = "recording"

    def __init__(self, name: str) -> None:
        super().__init__({}, {})
        self.name = name
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_a_new_configuration_generation_closes_the_instance_it_replaces():
    instances = Instances()
    old, new, other = Recording("old"), Recording("new"), Recording("other")
    instances.put(("w1", "notifier", "recording", "g1"), old)
    instances.put(("w2", "notifier", "recording", "g1"), other)
    assert instances.put(("w1", "notifier", "recording", "g2"), new) is new
    assert old.closed == 1 and new.closed == 0 and other.closed == 0
    assert instances.get(("w1", "notifier", "recording", "g1")) is None
    assert instances.get(("w1", "notifier", "recording", "g2")) is new
    assert len(instances) == 2


def test_the_least_recently_used_instance_past_the_size_is_closed():
    instances = Instances(size=2)
    first, second, third = Recording("1"), Recording("2"), Recording("3")
    instances.put(("w1", "notifier", "recording", None), first)
    instances.put(("w2", "notifier", "recording", None), second)
    instances.get(("w1", "notifier", "recording", None))  # w2 is now the least recently used
    instances.put(("w3", "notifier", "recording", None), third)
    assert (first.closed, second.closed, third.closed) == (0, 1, 0)
    # w2 may come back: its dropped generation no longer points at the evicted key
    again = Recording("2 again")
    instances.put(("w2", "notifier", "recording", None), again)
    assert first.closed == 1 and again.closed == 0 and len(instances) == 2


def test_two_threads_building_one_key_keep_one_instance_and_close_the_other():
    instances = Instances()
    key = ("w1", "notifier", "recording", "g1")
    built = [Recording(str(n)) for n in range(8)]
    kept: list[Any] = []
    barrier = threading.Barrier(len(built))

    def put(instance: Recording) -> None:
        barrier.wait()
        kept.append(instances.put(key, instance))

    threads = [threading.Thread(target=put, args=(instance,)) for instance in built]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len({id(instance) for instance in kept}) == 1
    assert sum(instance.closed for instance in built) == len(built) - 1
    assert kept[0].closed == 0


def test_changing_a_providers_configuration_closes_the_old_instance(app, tenant, monkeypatch):
    from codex32.db import db, tenancy
    from codex32.services import provider_instances

    def build() -> Any:
        with app.app_context():
            tenancy.bind(db.session, tenant.workspace_id)
            try:
                return provider_instances.build(db.session, tenant.workspace_id, "notifier",
                                                "webhook")
            finally:
                tenancy.unbind()
                db.session.rollback()

    path = "/api/v1/providers/notifier/webhook"
    body = {"config": {"url": "https://example.com/hook-1"}}
    assert tenant.call("PUT", path, json=body).status_code == 200
    old = build()
    closed: list[Any] = []
    monkeypatch.setattr(type(old), "close", lambda self: closed.append(self))
    body = {"config": {"url": "https://example.com/hook-2"}}
    assert tenant.call("PUT", path, json=body).status_code == 200
    new = build()
    assert new is not old and old in closed and new not in closed


# --- startup hooks in every process ----------------------------------------------------------

STARTUP = '''
import os

from codex32.plugins import hookimpl
from codex32.runtime import current


@hookimpl
def startup(app):
    with open(os.environ["C32TEST_STARTED"], "a") as file:
        file.write(f"{current().process} {app is None}\\n")
'''


def test_the_worker_runs_the_startup_hooks_once(database, tmp_path):
    plugins = tmp_path / "site"
    plugins.mkdir()
    install(plugins, "c32test_started", STARTUP)
    marker = tmp_path / "started.txt"
    starter = WorkerStarter(database, tmp_path)
    try:
        starter(PYTHONPATH=plugins, C32TEST_STARTED=marker,
                CODEX32_LOAD_PLUGINS="builtin,webhook,c32test_started")
        assert wait_for(marker.exists, message="the startup hook")
    finally:
        starter.kill_all()
    assert marker.read_text() == "worker True\n"


def test_a_cli_runtime_runs_the_startup_hooks_with_itself_current(database, data_dir, tmp_path,
                                                                  monkeypatch):
    sys_path = tmp_path / "site"
    sys_path.mkdir()
    install(sys_path, "c32test_started_cli", STARTUP)
    monkeypatch.syspath_prepend(str(sys_path))
    marker = tmp_path / "started.txt"
    monkeypatch.setenv("C32TEST_STARTED", str(marker))
    settings = make_settings(data_dir, load_plugins=["builtin", "c32test_started_cli"])
    runtime = bootstrap.build(settings, database.urls, "cli")
    bootstrap.start(runtime)
    runtime.engine.dispose()
    assert marker.read_text() == "cli True\n"
    with activated(runtime):
        assert current() is runtime
