"""The lint step: ruff over the generated files with a fixed rule set chosen for bots.

The rules (``--isolated``: no configuration file among the generated files applies):
pyflakes (``F``), bugbear (``B``), pylint's errors (``PLE``), runtime syntax errors (``E9``)
and invalid escapes (``W605``). Mistakes that break a run are errors and fail the step
(undefined names F821/F822/F823, misplaced ``return``/``break`` F7xx, broken ``%``/format
strings F50x/F52x, ``is`` against a literal F632, E9, PLE); the rest are warnings (unused
imports F401, unused variables F841, mutable defaults B006...). ruff only reads the files.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from codex32.services.builder.report import Finding
from codex32.services.builder.validation.work import Checked, Work, bounded

STEP = "lint"
RULES = ("E9", "F", "B", "PLE", "W605")
ERRORS = ("E9", "F821", "F822", "F823", "F63", "F7", "F50", "F52", "PLE")
TIMEOUT_SECONDS = 30.0


def ruff_binary() -> str:
    """The ruff executable of the ``ruff`` package."""
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


def write_files(folder: str, files: dict[str, str]) -> None:
    """Write ``files`` (paths already checked by the syntax step) under ``folder``."""
    for path, text in files.items():
        target = Path(folder, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", errors="surrogatepass")


def check(work: Work) -> Checked:
    """A finding per ruff diagnostic, with its rule code, path and line."""
    python = work.python_files()
    if not python:
        return Checked()
    with tempfile.TemporaryDirectory(prefix="codex32-lint-") as folder:
        write_files(folder, python)
        command = [ruff_binary(), "check", "--isolated", "--no-cache", "--exit-zero",
                   "--output-format", "json", "--target-version", "py311",
                   "--select", ",".join(RULES), "."]
        try:
            done = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                                  timeout=TIMEOUT_SECONDS, check=False,
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        except subprocess.TimeoutExpired:
            return Checked([Finding(STEP, f"ruff took longer than {TIMEOUT_SECONDS:g} s")])
        try:
            diagnostics = json.loads(done.stdout or "[]")
        except ValueError:
            return Checked([Finding(STEP, "ruff failed: " + bounded(done.stderr, 500))])
        findings = [_finding(item, folder) for item in diagnostics]
    lines = [f"{f.path}:{f.line}: {f.code} {f.message}" for f in findings]
    return Checked(findings, bounded("\n".join(lines)))


def _finding(item: dict, folder: str) -> Finding:
    code = item.get("code") or "E999"
    path = os.path.relpath(item.get("filename") or folder, folder)
    line = (item.get("location") or {}).get("row")
    return Finding(STEP, str(item.get("message") or "")[:500],
                   severity="error" if code.startswith(ERRORS) else "warning",
                   path=path, line=line, code=code)
