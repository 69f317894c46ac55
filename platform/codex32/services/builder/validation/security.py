"""The security step: bandit, plus the rules bandit lacks that matter for a sandboxed bot.

Why bandit: it is the maintained scanner for Python (PyCQA, 1.9.x), reads code with
:mod:`ast` without running it, rates each issue's severity and confidence, and runs in
process in about a millisecond per bot once loaded (0.2 s the first time). Semgrep or
CodeQL would need rule packs, a server or a network. Its high-severity issues (``shell=True``,
``os.system`` with input...) fail the step; medium and low ones are warnings. Its ``assert``
rule (B101) is left out: generated tests are made of asserts.

What bandit does not say, or says only as a low warning, while it matters for a bot (each an
error, code ``CX1xx``):

- CX101 ``eval``, ``exec``, ``compile``, ``__import__``: code built at run time, which no
  step here has checked (bandit flags only ``eval``, medium);
- CX102 a shell or a new program: ``os.system``/``popen``/``exec*``/``spawn*``, ``pty.spawn``,
  ``subprocess.getoutput``; even with a constant command (bandit: low);
- CX103 any call with ``shell=`` other than a literal False;
- CX104 ``pickle``/``marshal``/``shelve``/``dill``/``cloudpickle``/``joblib`` loads:
  deserializing data runs code (bandit: medium);
- CX105 ``ctypes``/``cffi``: native calls go around every Python-level rule;
- CX106 paths into the host's system state (``/proc``, ``/sys``, ``/etc/shadow``...): a bot
  has no business there, and in the sandbox they show nothing of the host anyway;
- CX107 reaching interpreter internals used to break out of restrictions (``__subclasses__``,
  ``__globals__``, ``__builtins__``, ``__code__``...).

The scan is advice about the code; the sandbox is what contains it.
"""

from __future__ import annotations

import ast
import os
import tempfile
import threading

from codex32.services.builder.report import Finding
from codex32.services.builder.validation.lint import write_files
from codex32.services.builder.validation.work import Checked, Work, bounded

STEP = "security"
SKIPPED_BANDIT_TESTS = ("B101",)
DYNAMIC = {"eval", "exec", "compile", "__import__"}
SPAWN = {"os.system", "os.popen", "pty.spawn", "subprocess.getoutput",
         "subprocess.getstatusoutput", "commands.getoutput", "platform.popen"}
SPAWN_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")
DESERIALIZERS = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle",
                 "joblib"}
NATIVE = {"ctypes", "_ctypes", "cffi"}
HOST_PATHS = ("/proc", "/sys", "/dev/mem", "/dev/kmem", "/etc/shadow", "/etc/sudoers",
              "/root", "/var/run/docker.sock", "/run/docker.sock")
INTERNALS = {"__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__",
             "__mro__", "__bases__", "f_globals", "f_locals", "gi_frame", "tb_frame"}

_bandit_lock = threading.Lock()  # bandit keeps module-level state (its extension manager)


def check(work: Work) -> Checked:
    """Bandit's issues and this module's rules on every ``.py`` file."""
    python = work.python_files()
    own = [finding for path, text in python.items() for finding in _own_rules(path, text)]
    flagged = {(f.path, f.line) for f in own}
    found = [f for f in _bandit(python) if (f.path, f.line) not in flagged]
    findings = sorted(own + found, key=lambda f: (f.path or "", f.line or 0))
    lines = [f"{f.path}:{f.line}: {f.code} [{f.severity}] {f.message}" for f in findings]
    return Checked(findings, bounded("\n".join(lines)))


def _bandit(python: dict[str, str]) -> list[Finding]:
    if not python:
        return []
    from bandit.core import config, manager

    with tempfile.TemporaryDirectory(prefix="codex32-security-") as folder:
        write_files(folder, python)
        with _bandit_lock:
            scanner = manager.BanditManager(config.BanditConfig(), "file", quiet=True)
            scanner.discover_files([folder], recursive=True)
            scanner.run_tests()
            issues = scanner.get_issue_list()
        findings = []
        for issue in issues:
            if issue.test_id in SKIPPED_BANDIT_TESTS:
                continue
            high = issue.severity == "HIGH"
            findings.append(Finding(
                STEP, f"{issue.text} (bandit: {issue.severity.lower()} severity, "
                      f"{issue.confidence.lower()} confidence)",
                severity="error" if high else "warning",
                path=os.path.relpath(issue.fname, folder), line=issue.lineno,
                code=issue.test_id))
    return findings


class _Rules(ast.NodeVisitor):
    """This module's rules over one file; names are resolved through its imports."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.aliases: dict[str, str] = {}  # local name -> dotted origin
        self.findings: list[Finding] = []

    def flag(self, node: ast.AST, code: str, message: str) -> None:
        self.findings.append(Finding(STEP, message, path=self.path,
                                     line=getattr(node, "lineno", None), code=code))

    def dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])
            if alias.name.split(".")[0] in NATIVE:
                self.flag(node, "CX105", f"imports {alias.name}: native calls bypass every rule")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        if module.split(".")[0] in NATIVE:
            self.flag(node, "CX105", f"imports from {module}: native calls bypass every rule")

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func) or ""
        if name in DYNAMIC:
            self.flag(node, "CX101", f"{name}() runs code built at run time")
        elif name in SPAWN or name.startswith(SPAWN_PREFIXES):
            self.flag(node, "CX102", f"{name}() starts a shell or another program")
        elif "." in name and name.split(".")[0] in DESERIALIZERS and (
                name.rsplit(".", 1)[1] in ("load", "loads", "open", "Unpickler")):
            self.flag(node, "CX104", f"{name}() deserializes data, which can run code")
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                               and keyword.value.value is False):
                self.flag(node, "CX103", f"{name or 'a call'} with shell=: runs a shell")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and any(
                node.value == path or node.value.startswith(path + "/") for path in HOST_PATHS):
            self.flag(node, "CX106", f"{node.value[:60]!r}: the host's system state")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in INTERNALS:
            self.flag(node, "CX107", f".{node.attr}: interpreter internals")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in INTERNALS:
            self.flag(node, "CX107", f"{node.id}: interpreter internals")


def _own_rules(path: str, text: str) -> list[Finding]:
    try:
        tree = ast.parse(text, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the syntax step reported it
    rules = _Rules(path)
    rules.visit(tree)
    return rules.findings
