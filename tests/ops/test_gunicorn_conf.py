"""gunicorn.conf.py: settings from the environment, sized to the machine, graceful on SIGTERM."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from unittest import mock

import prometheus_client  # noqa: F401
import pytest

from tests.ops.conftest import wait_until

# prometheus_client picks single- or multi-process values when first imported, from
# PROMETHEUS_MULTIPROC_DIR: imported here, before any test sets that variable, it stays in the
# single-process mode the rest of the suite runs in (a test below imports its multiprocess
# helpers with the variable set).

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "gunicorn.conf.py"
OWN_VARIABLES = ("PORT", "WEB_CONCURRENCY", "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS",
                 "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_KEEPALIVE",
                 "GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER",
                 "GUNICORN_WORKER_MEMORY_MB", "GUNICORN_WORKER_CONNECTIONS", "LOG_LEVEL",
                 "LOG_JSON", "PROMETHEUS_MULTIPROC_DIR", "PLUGIN_CALLS_PER_WORKSPACE",
                 "PLUGIN_CALLS_PER_PLUGIN", "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "CHATS_PER_WORKER")


@pytest.fixture
def load_conf():
    """Import gunicorn.conf.py afresh under a given environment; the environment is restored."""
    patches = []

    def load(**env: str) -> ModuleType:
        patch = mock.patch.dict(os.environ)
        patch.start()
        patches.append(patch)
        for name in OWN_VARIABLES:
            os.environ.pop(name, None)
        # A given database: on_starting would otherwise start an embedded one under ./.data.
        os.environ.update({"DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused", **env})
        spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", CONF)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    for patch in reversed(patches):
        patch.stop()


def test_settings_come_from_the_environment(load_conf, tmp_path):
    conf = load_conf(PORT="9123", WEB_CONCURRENCY="3", GUNICORN_WORKER_CLASS="sync",
                     GUNICORN_TIMEOUT="45", GUNICORN_GRACEFUL_TIMEOUT="20",
                     GUNICORN_KEEPALIVE="75", GUNICORN_MAX_REQUESTS="1000", LOG_LEVEL="debug",
                     PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"))
    assert conf.bind == ["0.0.0.0:9123"]
    assert conf.workers == 3
    assert conf.worker_class == "sync"
    assert conf.threads == 1
    assert (conf.timeout, conf.graceful_timeout, conf.keepalive) == (45, 20, 75)
    assert (conf.max_requests, conf.max_requests_jitter) == (1000, 100)
    assert conf.loglevel == "debug"
    assert load_conf(LOG_JSON="false").log_json is False
    assert conf.multiproc_dir == tmp_path / "m"
    assert conf.wsgi_app == "wsgi:app"
    assert conf.preload_app is False


def test_defaults_are_sized_to_the_machine(load_conf):
    conf = load_conf()
    assert conf.bind == ["0.0.0.0:8000"]
    assert conf.worker_class == "gthread" and conf.threads == 64
    assert conf.workers == conf.default_workers(conf.available_cpus(), conf.available_memory())
    assert conf.workers >= 1
    assert (conf.timeout, conf.graceful_timeout) == (30, 30)
    assert conf.loglevel == "info" and conf.log_json is True
    # The app sees the real worker count, and workers inherit the metrics directory.
    assert os.environ["WEB_CONCURRENCY"] == str(conf.workers)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(conf.multiproc_dir)
    assert conf.multiproc_dir.name == "codex32-metrics-8000"


def bounds() -> tuple[str, ...]:
    return tuple(os.environ[name] for name in ("PLUGIN_CALLS_PER_WORKSPACE",
                                               "PLUGIN_CALLS_PER_PLUGIN", "DB_POOL_SIZE",
                                               "DB_MAX_OVERFLOW", "CHATS_PER_WORKER"))


def test_call_bounds_and_the_pool_are_sized_to_what_a_worker_serves_at_once(load_conf):
    load_conf()
    assert bounds() == ("32", "64", "10", "5", "56")  # chats leave 8 threads to the rest
    load_conf(GUNICORN_THREADS="4")  # the former defaults
    assert bounds()[:2] == ("2", "16") and bounds()[4] == "2"
    load_conf(GUNICORN_WORKER_CLASS="gevent", GUNICORN_WORKER_CONNECTIONS="400")
    assert bounds() == ("200", "400", "10", "5", "350")
    load_conf(PLUGIN_CALLS_PER_WORKSPACE="3", DB_POOL_SIZE="7")  # the operator's values win
    assert (os.environ["PLUGIN_CALLS_PER_WORKSPACE"], os.environ["DB_POOL_SIZE"]) == ("3", "7")


@pytest.mark.parametrize("env", [{"LOG_LEVEL": "LOUD"}, {"WEB_CONCURRENCY": "many"},
                                 {"LOG_JSON": "maybe"}])
def test_a_bad_value_fails_at_start(load_conf, env):
    with pytest.raises(ValueError):
        load_conf(**env)


def test_cgroup_v2_limits_lower_the_worker_count(load_conf, tmp_path):
    conf = load_conf()
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "memory.max").write_text(f"{768 * 1024 * 1024}\n")
    assert conf.cgroup_cpu_limit(tmp_path) == 1.5
    assert conf.available_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    assert conf.available_memory(tmp_path) == 768 * 1024 * 1024
    assert conf.default_workers(2, 768 * 1024 * 1024, worker_memory_mb=256) == 3


def test_unlimited_cgroups_fall_back_to_the_machine(load_conf, tmp_path):
    conf = load_conf()
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert conf.cgroup_cpu_limit(tmp_path) is None
    assert conf.cgroup_memory_limit(tmp_path) is None
    assert conf.available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_cgroup_v1_limits_are_read_too(load_conf, tmp_path):
    conf = load_conf()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert conf.cgroup_cpu_limit(tmp_path) == 2.0
    assert conf.cgroup_memory_limit(tmp_path) is None


@pytest.mark.parametrize(("cpus", "memory_mb", "expected"), [
    (1, None, 3), (4, None, 9), (4, 512, 2), (8, 100, 1),
])
def test_default_workers(load_conf, cpus, memory_mb, expected):
    conf = load_conf()
    memory = memory_mb * 1024 * 1024 if memory_mb else None
    assert conf.default_workers(cpus, memory, worker_memory_mb=256) == expected


def test_master_start_empties_the_metrics_directory(load_conf, tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"stale")
    (metrics / "README").write_text("not ours")
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(metrics))
    conf.on_starting(SimpleNamespace(log=logging.getLogger("test")))
    assert sorted(p.name for p in metrics.iterdir()) == ["README"]


def test_master_start_creates_a_missing_metrics_directory(load_conf, tmp_path):
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "new" / "metrics"))
    conf.on_starting(SimpleNamespace(log=logging.getLogger("test")))
    assert (tmp_path / "new" / "metrics").is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the folder to another user")
@pytest.mark.parametrize(("owner", "mode"), [(65534, 0o755), (None, 0o777), (65534, 0o1777)])
def test_master_start_refuses_a_metrics_directory_another_user_can_write(
        load_conf, tmp_path, owner, mode):
    # The default folder (/tmp/codex32-metrics-PORT) has a name anyone can guess: a local
    # user who made it first could plant symlinks named like the workers' *.db files, which
    # prometheus_client opens and writes through, or forge the server's metrics.
    metrics = tmp_path / "codex32-metrics-8000"
    metrics.mkdir()
    if owner is not None:
        os.chown(metrics, owner, owner)
    metrics.chmod(mode)
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with pytest.raises(RuntimeError, match=r"PROMETHEUS_MULTIPROC_DIR .* another user"):
        conf.on_starting(SimpleNamespace(log=logging.getLogger("test")))


def test_master_start_creates_the_metrics_directory_for_its_user_only(load_conf, tmp_path):
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    conf.on_starting(SimpleNamespace(log=logging.getLogger("test")))
    assert (tmp_path / "metrics").stat().st_mode & 0o777 == 0o700


def test_master_start_prepares_the_embedded_database_before_workers_fork(load_conf, tmp_path):
    import shutil
    import tempfile

    import psycopg

    from codex32.db import embedded

    folder = Path(tempfile.mkdtemp(prefix="codex32-gunicorn-"))  # the server's account enters
    try:
        conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DATABASE_URL="",
                         CODEX32_DATA_DIR=str(folder))
        conf.on_starting(SimpleNamespace(log=logging.getLogger("test")))
        passwords = json.loads((folder / "postgres-credentials.json").read_text())
        with psycopg.connect(host=str(folder / "postgres"), dbname="codex32",
                             user="codex32_runtime", password=passwords["codex32_runtime"]) as c:
            assert c.execute("SELECT current_user").fetchone() == ("codex32_runtime",)
    finally:
        embedded.stop(folder, immediate=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_dead_workers_live_gauges_are_dropped(load_conf, tmp_path):
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_liveall_4242.db", "counter_4242.db",
                 "gauge_livesum_7.db"):
        (tmp_path / name).write_bytes(b"")
    conf.child_exit(SimpleNamespace(), SimpleNamespace(pid=4242))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db",
                                                          "gauge_livesum_7.db"]


def test_gunicorn_messages_become_json_lines(load_conf):
    from gunicorn.config import Config

    conf = load_conf(LOG_LEVEL="INFO")
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        logger = conf.JsonLogger(Config())
        assert logging.getLogger("gunicorn.error").handlers == []
        assert logging.getLogger("gunicorn.error").propagate is True
        ours = [h for h in root.handlers if getattr(h, "_codex32_handler", False)]
        assert len(ours) == 1
        logger.setup(Config())  # a reload (SIGHUP) must not stack handlers
        assert len([h for h in root.handlers if getattr(h, "_codex32_handler", False)]) == 1
    finally:
        for handler in list(root.handlers):
            if handler not in saved[0]:
                root.removeHandler(handler)
        root.setLevel(saved[1])
        logging.captureWarnings(False)


def test_a_stopping_worker_ends_its_streams_and_writes_its_records_before_it_is_killed(
        load_conf, monkeypatch):
    """SIGTERM gives a worker graceful_timeout before the master's SIGKILL: streams end
    records_reserve before it (their records written) and the exit drains the queued records
    first, until just before it. Before, a stream flowed on to the kill (no record) and the
    records queued behind it waited for the interpreter's exit, cut by the kill."""
    from codex32.runtime import background

    conf = load_conf(GUNICORN_GRACEFUL_TIMEOUT="9")
    monkeypatch.setattr(background, "_stop_by", None)
    monkeypatch.setattr(background, "_current", {})
    stopped = []
    previous = signal.signal(signal.SIGTERM, lambda *args: stopped.append("gunicorn"))
    try:
        conf.watch_stop()
        sent = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        wait_until(lambda: stopped, 5, "the SIGTERM handler")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped == ["gunicorn"]  # gunicorn's own handler still stops the worker
    assert sent + 9 - 3 - 0.5 < background.stopping_by() < time.monotonic() + 9 - 3
    release, done = threading.Event(), []
    background.run_later(lambda: (release.wait(20), done.append("notice")), background.NOTICES)
    background.run_later(lambda: (time.sleep(0.2), done.append("record")))
    monkeypatch.setattr(conf, "_killed_at", time.monotonic() + 1.5)
    worker = SimpleNamespace(log=mock.Mock())
    started = time.monotonic()
    conf.worker_exit(None, worker)
    assert time.monotonic() - started < 1.5 and done == ["record"]
    assert "notices" in str(worker.log.warning.call_args)
    release.set()
    assert background.wait_idle(5)
