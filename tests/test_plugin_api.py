"""The public plugin API: first-party plugins and the guide import ``codex32`` only through
``codex32.plugins.api``, and every name it offers is there and typed."""

from __future__ import annotations

import ast
import importlib.resources
import re
from pathlib import Path

import pytest

from codex32.plugins import api

ROOT = Path(__file__).resolve().parents[1]
API = "codex32.plugins.api"
PLUGINS = sorted([*ROOT.glob("plugins/*/codex32_*/**/*.py"),
                  *(ROOT / "platform/codex32/plugins/defaults").glob("*.py")])
# The subprocess executor is the core's adapter of its own sandbox (docs/architecture.md: an
# executor plugin may use the sandbox); it runs bots under the policy of the process's runtime.
CORE_ADAPTER = {"subprocess_executor.py": {"codex32.execution", "codex32.execution.sandbox",
                                           "codex32.runtime"}}
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def core_imports(tree: ast.AST) -> set[str]:
    """The ``codex32`` modules a module imports, at any depth."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return {name for name in found if name == "codex32" or name.startswith("codex32.")}


def test_the_plugins_are_found():
    assert len(PLUGINS) > 15
    assert ROOT / "plugins/slack/codex32_slack/__init__.py" in PLUGINS


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_first_party_plugin_imports_the_core_only_through_the_api(path):
    imported = core_imports(ast.parse(path.read_text()))
    allowed = {API} | CORE_ADAPTER.get(path.name, set())
    own = "codex32.plugins.defaults"  # the defaults may import each other
    wrong = sorted(name for name in imported
                   if name not in allowed and not name.startswith(own + "."))
    assert not wrong, f"{path.name} imports {wrong}: import from {API} instead"


def test_the_guides_examples_import_the_core_only_through_the_api():
    blocks = FENCE.findall((ROOT / "docs/plugins.md").read_text())
    imported = set().union(*(core_imports(ast.parse(block)) for block in blocks))
    assert imported <= {API, "codex32.testing"}, imported


def test_every_name_the_api_offers_is_there():
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
    assert {"hookimpl", "ChatRequest", "ChatResult", "Usage", "Message", "ExecutionRequest",
            "ExecutionOutcome", "ConfigInvalid", "ProviderError", "HealthResult",
            "Notifier"} <= set(api.__all__)


def test_the_package_is_typed():
    assert (importlib.resources.files("codex32") / "py.typed").is_file()
