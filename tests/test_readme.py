"""The README stays true: every environment variable the settings read is in its table, and
its test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_read_from_the_environment_is_documented():
    config = (ROOT / "platform" / "codex32" / "config.py").read_text()
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r'env\.get\("([A-Z0-9_]+)"', config))
    assert len(names) > 30
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"add to the README configuration table: {missing}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
