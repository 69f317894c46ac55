"""The ``subprocess`` executor as a plugin: registration, configuration, isolation policy."""

from __future__ import annotations

import os
import sys
import tempfile
import threading

import jsonschema
import pluggy
import pytest

from codex32.execution import sandbox
from codex32.plugins import hookspecs
from codex32.plugins.defaults import subprocess_executor
from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from codex32.plugins.errors import ConfigInvalid
from codex32.plugins.interfaces import ISOLATION_LEVELS, Executor
from tests.execution.sandbox_support import make_request


@pytest.fixture(scope="module")
def executor() -> SubprocessExecutor:
    return SubprocessExecutor()


@pytest.fixture(scope="module")
def isolation(executor: SubprocessExecutor) -> str:
    return executor.isolation_level()


def test_the_executor_is_registered_through_the_executors_hook():
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(subprocess_executor)
    registered: list[type] = []
    manager.hook.register_executors(register=registered.append)
    assert registered == [SubprocessExecutor]
    assert issubclass(SubprocessExecutor, Executor) and SubprocessExecutor.id == "subprocess"


def test_the_config_schema_is_valid_and_its_defaults_build_an_executor():
    schema = SubprocessExecutor.config_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    defaults = {name: spec["default"] for name, spec in schema["properties"].items()}
    jsonschema.validate(defaults, schema)
    executor = SubprocessExecutor(defaults)
    assert executor.python == sys.executable
    assert executor.minimum_isolation == "process"


@pytest.mark.parametrize(("config", "field"), [
    ({"minimum_isolation": "total"}, "minimum_isolation"),
    ({"python": "/nonexistent/python3"}, "python"),
    ({"python": "/etc/passwd"}, "python"),
])
def test_an_invalid_configuration_is_refused(config, field):
    with pytest.raises(ConfigInvalid) as caught:
        SubprocessExecutor(config)
    assert field in caught.value.errors


def test_under_root_an_interpreter_others_could_replace_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root launches the interpreter with privileges")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone may replace what is in here
    planted = shared / "python3"
    planted.write_text("#!/bin/sh\nexit 0\n")
    planted.chmod(0o755)
    with pytest.raises(ConfigInvalid, match="configuration"):
        SubprocessExecutor({"python": str(planted)})


def test_the_isolation_level_is_one_of_the_known_levels(executor):
    assert executor.isolation_level() in ISOLATION_LEVELS


def test_the_host_is_probed_once_per_interpreter(monkeypatch):
    runs = []
    real = sandbox._probe_run
    monkeypatch.setattr(sandbox, "_probe_run", lambda settings: runs.append(1) or real(settings))
    monkeypatch.setattr(sandbox, "_probe_cache", {})
    first = sandbox.probe(sys.executable)
    probes = len(runs)
    assert probes >= 1
    assert sandbox.probe(sys.executable) == first
    assert len(runs) == probes  # the second answer came from the cache


class _WeakHost(SubprocessExecutor):
    """The executor on a host that offers only process isolation (no root)."""

    def isolation_level(self) -> str:
        return "process"


def test_a_run_below_the_minimum_isolation_is_refused_without_starting_the_bot():
    executor = _WeakHost({"minimum_isolation": "namespace"})
    request = make_request("def main(event, context):\n    raise SystemExit('ran')\n")
    outcome = executor.run(request, threading.Event())
    assert outcome.status == "failed"
    assert outcome.error["type"] == "IsolationUnavailable"
    assert not executor.health_check().ok


def test_health_check_reports_the_level(executor, isolation):
    health = executor.health_check()
    assert health.ok
    assert isolation in health.detail


def test_the_working_directory_is_removed_after_each_run(tmp_path):
    settings = sandbox.probe(sys.executable, work_root=str(tmp_path))
    outcomes = [sandbox.run_sandboxed(make_request(code), None, settings).status for code in (
        "def main(event, context):\n    open('left.txt', 'w').write('x')\n",
        "def main(event, context):\n    raise ValueError('boom')\n")]
    assert outcomes == ["succeeded", "failed"]  # both really ran in a working directory
    assert list(tmp_path.iterdir()) == []


USER_LEVEL_PYTHON = "/usr/bin/python3"


@pytest.mark.parametrize("level", ["user", "process"])
def test_the_weaker_levels_still_run_bots_within_limits(isolation, level):
    """What a host without namespaces gets; forced here to test those code paths too."""
    python = sys.executable
    if level == "user":
        if isolation not in ("namespace", "user"):
            pytest.skip("the user level needs root")
        # Our interpreter may live where the bot's uid cannot read (e.g. under /root).
        python = USER_LEVEL_PYTHON
        if sandbox.interpreter_problem(python):
            pytest.skip(f"no root-owned {python} here")
    settings = sandbox.SandboxSettings(python=python, isolation=level)
    code = ("import os\n\ndef main(event, context):\n"
            "    return [os.getuid(), sorted(os.environ), os.getcwd() == os.environ['HOME']]\n")
    outcome = sandbox.run_sandboxed(make_request(code), None, settings)
    assert outcome.status == "succeeded", outcome.error
    uid, environment, in_home = outcome.result
    assert uid == (sandbox.NOBODY if level == "user" else os.getuid())
    assert set(environment) <= {"PATH", "LANG", "LC_ALL", "PYTHONIOENCODING", "HOME", "TMPDIR"}
    assert in_home
    looping = make_request("def main(event, context):\n    while True:\n        pass\n",
                           timeout_seconds=0.5)
    assert sandbox.run_sandboxed(looping, None, settings).status == "timed_out"


@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership check applies under root")
def test_an_interpreter_below_a_sticky_tmp_is_accepted_but_not_below_a_writable_dir(tmp_path):
    import shutil
    import stat

    from codex32.execution.sandbox import interpreter_problem

    safe = tempfile.mkdtemp(dir="/tmp")  # /tmp itself is root's and sticky
    try:
        os.chmod(safe, 0o755)
        binary = os.path.join(safe, "true")
        shutil.copy("/bin/true", binary)
        os.chmod(binary, 0o755)
        assert interpreter_problem(binary) is None
        os.chmod(safe, 0o777)  # writable by others, and not sticky
        assert "writable by others" in interpreter_problem(binary)
        os.chmod(safe, 0o777 | stat.S_ISVTX)
        assert interpreter_problem(binary) is None
    finally:
        shutil.rmtree(safe)
