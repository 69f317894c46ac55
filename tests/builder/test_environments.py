"""Requirement environments: installed once per lock even under concurrent builds, bounded,
and used read-only by a bot's executions (the worker's side), from a local folder of wheels.
"""

from __future__ import annotations

import threading
import types
from pathlib import Path

import pytest

from codex32 import runtime
from codex32.db import tenancy
from codex32.execution import environments, run_requirements, sandbox
from tests.builder.wheels import wheel
from tests.conftest import make_settings
from tests.execution.sandbox_support import make_request


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    wheel(folder, "tinylib", "1.0", "ANSWER = 42\n")
    wheel(folder, "tinylib", "2.0", "ANSWER = 43\n")
    return folder


def installer(tmp_path: Path, wheels: Path, **options) -> environments.Installer:
    return environments.Installer(root=tmp_path / "environments", index_url="none",
                                  find_links=(str(wheels),), **options)


def test_concurrent_builds_of_one_lock_install_it_once(tmp_path, wheels):
    where = installer(tmp_path, wheels)
    found: list[environments.Environment] = []
    threads = [threading.Thread(target=lambda: found.append(
        environments.ensure(where, ["tinylib==1.0"]))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(env.reused for env in found) == [False, True, True]
    assert len({env.site for env in found}) == 1
    assert (found[0].site / "tinylib.py").read_text() == "ANSWER = 42\n"
    leftovers = [p.name for p in where.root.iterdir() if p.name.startswith(".building")]
    assert leftovers == []


def test_the_cache_keeps_only_the_most_recently_used(tmp_path, wheels):
    where = installer(tmp_path, wheels, max_environments=1, eviction_grace_seconds=0)
    first = environments.ensure(where, ["tinylib==1.0"])
    second = environments.ensure(where, ["tinylib==2.0"])
    assert not first.site.exists() and second.site.exists()
    assert [p.name for p in where.root.iterdir() if not p.name.startswith(".")] == [second.key]


def test_an_execution_imports_its_requirements_read_only(tmp_path, wheels):
    found = sandbox.availability(sandbox.SandboxPolicy())
    if not (found.ok and found.level == "namespace"):
        pytest.skip(f"needs the namespace level (root, bubblewrap, libseccomp): {found.detail}")
    settings = make_settings(tmp_path, builder_index_url="none", builder_find_links=(str(wheels),))
    code = ("import os\nimport tinylib\n\n\ndef main(event, context):\n"
            "    folder = os.path.dirname(tinylib.__file__)\n"
            "    try:\n        open(os.path.join(folder, 'tinylib.py'), 'a')\n"
            "        wrote = True\n    except OSError:\n        wrote = False\n"
            "    return [tinylib.ANSWER, folder, wrote]\n")
    rt = types.SimpleNamespace(settings=settings)
    prepared = run_requirements.with_environment(rt, make_request(code), ("tinylib==1.0",))
    outcome = sandbox.run_sandboxed(prepared, threading.Event(), sandbox.SandboxPolicy())
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == [42, "/opt/codex32/0", False]
    with pytest.raises(run_requirements.Unavailable, match=r"tinylib==9\.9"):  # pip's words
        run_requirements.with_environment(rt, make_request(code), ("tinylib==9.9",))


def test_a_run_refuses_requirements_its_workspace_does_not_allow(app, tenant):
    response = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"builder": {
        "allowed_requirements": ["pyyaml"]}}})
    assert response.status_code == 200, response.json
    rt = runtime.of(app)
    with rt.sessions() as session, tenancy.bound(session, tenant.workspace_id):
        def refused(text: str) -> str | None:
            return run_requirements.pins_of_version(rt, session, {"requirements.txt": text})[1]

        assert run_requirements.pins_of_version(rt, session, {}) == ((), None)
        assert refused("pyyaml==6.0.2\n") is None
        assert "not on this workspace's allowlist" in (refused("requests==2.32.3\n") or "")
        assert "not on the platform's allowlist" in (refused("evil==1.0\n") or "")
        assert "pin one exact version" in (refused("pyyaml\n") or "")
