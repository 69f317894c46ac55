"""The syntax step: every path is a plain relative one and every ``.py`` file compiles.

Compiling runs nothing: ``compile`` only builds bytecode. No generated code runs here.
"""

from __future__ import annotations

import re

from codex32.services.builder.report import Finding
from codex32.services.builder.validation.work import Checked, Work

STEP = "syntax"
# Relative paths of a few plain segments: written into temp folders and the sandbox as given.
SAFE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}){0,3}")
MAX_FILES = 50


def check(work: Work) -> Checked:
    """A finding per unsafe path, oversized file and file that does not compile."""
    findings = []
    if len(work.files) > MAX_FILES:
        findings.append(Finding(STEP, f"{len(work.files)} files, at most {MAX_FILES} allowed"))
    limit = work.settings.max_code_bytes
    for path, text in sorted(work.files.items()):
        if not SAFE_PATH.fullmatch(path) or ".." in path.split("/"):
            findings.append(Finding(STEP, "not a plain relative file path", path=path[:200]))
            continue
        if len(text.encode("utf-8", "surrogatepass")) > limit:
            findings.append(Finding(STEP, f"larger than {limit} bytes", path=path))
            continue
        if path.endswith(".py"):
            findings.extend(_compiles(path, text))
    return Checked(findings)


def _compiles(path: str, text: str) -> list[Finding]:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        return [Finding(STEP, f"{type(exc).__name__}: {exc.msg}", path=path, line=exc.lineno,
                        code=type(exc).__name__)]
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return [Finding(STEP, f"does not compile: {type(exc).__name__}: {exc}"[:500],
                        path=path, code=type(exc).__name__)]
    return []
