"""docs/plugins.md stays true to the code: every hook documented and tested, examples working.

A new hookspec fails here until the guide documents it (in a heading or code) and a test under
``tests/`` or ``plugins/*/tests/`` exercises it (calls it, implements it, or names it as a
string). The guide's tutorial plugin runs its own test suite as written, and its nsjail
executor runs the executor suite against a stand-in for nsjail.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from codex32.plugins.manager import PluginManager, spec_names
from codex32.testing import ExecutorConformance

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
HOOKS = sorted(spec_names())
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A block that is a whole file of an example starts with a comment naming its path.
FILE_LINE = re.compile(r"# ([\w./-]+\.(?:py|toml))\n")
TUTORIAL_FILES = ("pyproject.toml", "codex32_ntfy/__init__.py", "tests/conftest.py",
                  "tests/test_ntfy_conformance.py")
# Stands in for nsjail: drops its options and runs the command after "--".
FAKE_NSJAIL = '#!/bin/sh\nwhile [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done\n' \
              'shift\nexec "$@"\n'


def code_blocks(language: str | None = None) -> list[str]:
    """The fenced code blocks of the guide (of one language when given)."""
    return [body for lang, body in FENCE.findall(GUIDE.read_text())
            if language is None or lang == language]


def example_files() -> dict[str, str]:
    """The guide's example files by path (blocks whose first line names the file)."""
    files = {}
    for body in code_blocks():
        named = FILE_LINE.match(body)
        if named:
            files[named.group(1)] = body
    return files


def load_example(path: str) -> types.ModuleType:
    """One example module of the guide, executed as a module named after its package."""
    module = types.ModuleType(path.split("/")[0])
    exec(compile(example_files()[path], f"docs/plugins.md ({path})", "exec"), module.__dict__)
    return module


def sources_of_tests() -> list[Path]:
    """Every test module and conftest of the core and of the first-party plugins."""
    candidates = [*ROOT.glob("tests/**/*.py"), *ROOT.glob("plugins/*/tests/**/*.py")]
    return [p for p in candidates if p.name.startswith("test_") or p.name == "conftest.py"]


def test_the_test_sources_are_found():
    sources = sources_of_tests()

    assert ROOT / "tests" / "test_plugin_docs.py" in sources
    assert any(p.is_relative_to(ROOT / "plugins") for p in sources)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_a_heading_or_code(hook):
    text = GUIDE.read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    code = re.findall(r"`([^`\n]+)`", text) + code_blocks()
    name = re.compile(rf"\b{hook}\b")

    assert any(name.search(piece) for piece in headings + code), (
        f"docs/plugins.md does not document the hook {hook!r}")


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook):
    used = re.compile(rf"\b{hook}\(|[\"']{hook}[\"']")

    users = [path for path in sources_of_tests() if used.search(path.read_text())]

    assert users, f"no test calls, implements or names the hook {hook!r}"


def test_every_python_example_parses():
    for block in code_blocks("python"):
        ast.parse(block)


def test_the_tutorial_plugin_passes_its_own_test_suite(tmp_path):
    files = example_files()
    for path in TUTORIAL_FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(files[path])
    project = tomllib.loads(files["pyproject.toml"])["project"]
    # What `pip install -e .` would leave behind, so the core finds the entry point.
    info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    (info / "entry_points.txt").write_text("[codex32]\n" + "".join(
        f"{name} = {value}\n" for name, value in project["entry-points"]["codex32"].items()))
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", "tests"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
        timeout=120)

    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "skipped" not in result.stdout, report


NSJAIL = load_example("codex32_nsjail/__init__.py")


class TestTheGuidesNsjailExecutor(ExecutorConformance):
    plugin_class = NSJAIL.NsjailExecutor
    plugin_module = NSJAIL
    plugin_config = {"python": sys.executable}

    @pytest.fixture(autouse=True)
    def stand_in_for_nsjail(self, tmp_path, monkeypatch):
        binary = tmp_path / "nsjail"
        binary.write_text(FAKE_NSJAIL)
        binary.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("installed", "error"), [
    (None, "startup failed: RuntimeError: nsjail is not installed on this host"),
    ("/usr/bin/nsjail", None),
])
def test_the_startup_example_reports_a_missing_binary_against_its_plugin(monkeypatch,
                                                                         installed, error):
    monkeypatch.setattr(shutil, "which", lambda name: installed)
    manager = PluginManager()
    manager.register_module(NSJAIL, name="nsjail")
    manager.collect()

    manager.startup(app=types.SimpleNamespace())

    assert manager.plugins["nsjail"].error == error
    assert manager.get("executor", "nsjail").cls is NSJAIL.NsjailExecutor
