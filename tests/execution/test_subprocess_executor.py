"""The ``subprocess`` executor as a plugin: registration, configuration, isolation policy."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile

import jsonschema
import pytest

from codex32.execution import sandbox
from codex32.execution.sandbox import probe
from codex32.plugins.defaults import subprocess_executor
from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from codex32.plugins.errors import ConfigInvalid
from codex32.plugins.interfaces import ISOLATION_LEVELS, Executor
from codex32.testing import registered_classes
from tests.execution.sandbox_support import make_request


@pytest.fixture(scope="module")
def executor() -> SubprocessExecutor:
    return SubprocessExecutor()


@pytest.fixture(scope="module")
def isolation(executor: SubprocessExecutor) -> str:
    return executor.isolation_level()


def test_the_executor_is_registered_through_the_executors_hook():
    assert registered_classes(subprocess_executor) == {"executor": [SubprocessExecutor]}
    assert issubclass(SubprocessExecutor, Executor) and SubprocessExecutor.id == "subprocess"


def test_the_config_schema_is_valid_and_its_defaults_build_an_executor():
    schema = SubprocessExecutor.config_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    defaults = {name: spec["default"] for name, spec in schema["properties"].items()}
    jsonschema.validate(defaults, schema)
    executor = SubprocessExecutor(defaults)
    assert executor.workdir_mb == 64
    assert executor.policy.python == sys.executable


@pytest.mark.parametrize("key", ["python", "run_as_uid", "run_as_gid", "minimum_isolation"])
def test_how_code_runs_is_not_part_of_a_workspaces_configuration(key):
    """Interpreter, identities and isolation are the platform's: the schema has no room."""
    value = {"python": "/usr/bin/python3", "run_as_uid": 1000, "run_as_gid": 42,
             "minimum_isolation": "none"}[key]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({key: value}, SubprocessExecutor.config_schema)


def test_a_working_directory_above_the_platforms_maximum_is_refused():
    maximum = sandbox.SandboxPolicy().max_workdir_mb
    with pytest.raises(ConfigInvalid) as caught:
        SubprocessExecutor({"workdir_mb": maximum + 1})
    assert "workdir_mb" in caught.value.errors


def test_under_root_an_interpreter_others_could_replace_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root launches the interpreter with privileges")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone may replace what is in here
    planted = shared / "python3"
    planted.write_text("#!/bin/sh\nexit 0\n")
    planted.chmod(0o755)
    found = sandbox.availability(sandbox.SandboxPolicy(python=str(planted)))
    assert not found.ok and "writable by others" in found.detail


def test_the_isolation_level_is_one_of_the_known_levels(executor):
    assert executor.isolation_level() in ISOLATION_LEVELS
    assert executor.isolation_level() == sandbox.SandboxPolicy().isolation  # the platform's


def test_the_host_is_probed_once_per_policy(monkeypatch):
    runs = []
    real = probe.run_sandboxed
    monkeypatch.setattr(probe, "run_sandboxed",
                        lambda *args: runs.append(1) or real(*args))
    policy = sandbox.SandboxPolicy(uid_range=(300000, 300099))  # not cached yet
    first = sandbox.availability(policy)
    assert runs == [1]
    assert sandbox.availability(policy) == first
    assert runs == [1]  # the second answer came from the cache


def test_health_check_reports_the_level(executor, isolation):
    health = executor.health_check()
    assert health.ok
    assert isolation in health.detail


def test_the_working_directory_is_removed_after_each_run(isolation, monkeypatch):
    # The process level: its working directory is a folder of the host's temporary directory
    # (at the namespace level it is a tmpfs that never shows there, so nothing could be left).
    # That directory is one of its own here: other tests, and other test runs, write to /tmp.
    host_tmp = tempfile.mkdtemp(prefix="codex32-tmpdir-")
    os.chmod(host_tmp, 0o755)  # a run's own uid enters it, as it enters /tmp
    monkeypatch.setattr(tempfile, "tempdir", host_tmp)
    policy = dataclasses.replace(sandbox.SandboxPolicy(), isolation="process")
    try:
        outcomes = [sandbox.run_sandboxed(make_request(code), None, policy) for code in (
            "import os\n\ndef main(event, context):\n    open('left.txt', 'w').write('x')\n"
            "    return os.getcwd()\n",
            "def main(event, context):\n    raise ValueError('boom')\n")]
        assert [outcome.status for outcome in outcomes] == ["succeeded", "failed"]
        assert os.path.dirname(outcomes[0].result) == host_tmp  # it really ran in there
        assert os.listdir(host_tmp) == []
    finally:
        shutil.rmtree(host_tmp, ignore_errors=True)


USER_LEVEL_PYTHON = "/usr/bin/python3"


@pytest.mark.parametrize("level", ["user", "process"])
def test_the_weaker_levels_still_run_bots_within_limits(level):
    """What an operator may choose on a host without namespaces; tested here too."""
    python = sys.executable
    if level == "user":
        if os.geteuid() != 0:
            pytest.skip("the user level needs root")
        # Our interpreter may live where the bot's uid cannot read (e.g. under /root).
        python = USER_LEVEL_PYTHON
        if sandbox.interpreter_problem(python):
            pytest.skip(f"no root-owned {python} here")
    policy = sandbox.SandboxPolicy(python=python, isolation=level)
    code = ("import os\n\ndef main(event, context):\n"
            "    return [os.getuid(), sorted(os.environ), os.getcwd() == os.environ['HOME']]\n")
    outcome = sandbox.run_sandboxed(make_request(code), None, policy)
    assert outcome.status == "succeeded", outcome.error
    uid, environment, in_home = outcome.result
    low, high = policy.uid_range
    assert low <= uid <= high if level == "user" else uid == os.getuid()
    assert set(environment) <= {"PATH", "LANG", "LC_ALL", "PYTHONIOENCODING", "HOME", "TMPDIR"}
    assert in_home
    looping = make_request("def main(event, context):\n    while True:\n        pass\n",
                           timeout_seconds=0.5)
    assert sandbox.run_sandboxed(looping, None, policy).status == "timed_out"


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
