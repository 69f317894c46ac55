"""The import graph of ``codex32`` and ``tenants``: no cycles, and arrows that point down.

Every module is parsed with :mod:`ast` and every import counts, a function-level one too: an
import moved into a function still closes its cycle, it only hides it until the call. Imports
under ``if TYPE_CHECKING:`` are left out (they never run). The layers are data below; docs/
architecture.md explains them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"codex32": ROOT / "platform" / "codex32", "tenants": ROOT / "tenants"}

# The entry layers: the HTTP API, the web console, the app factory and the command line. They
# may import anything below them, the tenancy domain included; nothing imports them but each
# other.
ENTRY = ("codex32.api", "codex32.console", "codex32.app", "codex32.cli")
# The worker's job bodies. Services defer jobs through codex32.execution.queue, which names the
# tasks; the worker process registers these bodies under those names.
JOB_BODIES = ("codex32.execution.builder_jobs", "codex32.execution.indexing",
              "codex32.execution.knowledge", "codex32.execution.notifications",
              "codex32.execution.rebuilding",
              "codex32.execution.process",
              "codex32.execution.scheduler", "codex32.execution.worker")

# Who may not import whom: an importer prefix (a package and everything under it, the entry
# layers excepted) and the prefixes it must never reach. Read with docs/architecture.md.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # tenants is built on the core; below the entry layers, the core never knows it.
    "codex32": ("tenants",),
    "tenants": ENTRY,
    "codex32.services": (*JOB_BODIES, *ENTRY),
    "codex32.execution": ENTRY,
    "codex32.execution.queue": JOB_BODIES,
    "codex32.execution.sandbox": ("codex32.services", "codex32.execution.queue", *JOB_BODIES),
    # An executor plugin may use the sandbox; nothing else of execution.
    "codex32.plugins": ("codex32.services", "codex32.execution.queue", *JOB_BODIES, *ENTRY),
    "codex32.auth": ("codex32.services", "codex32.plugins", "codex32.execution", *ENTRY),
    "codex32.db": ("codex32.services", "codex32.plugins", "codex32.auth", "codex32.execution",
                   *ENTRY),
}


def module_files() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its own name)."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest module of ours that ``name`` is or is inside of, if any."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Each module of ours mapped to the modules of ours it imports (built once per run: the
    tests only read it)."""
    modules = module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + is_package]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from a import b`` imports the module a.b when there is one, else a.
                targets = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else base for t in targets]
            for target in targets:
                known = _known(target, modules)
                if known and known != name:
                    graph[name].add(known)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components that hold more than one module (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _cycle_edges(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    members = set(component)
    return [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]


def test_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The parser finds an import inside a function and skips one under TYPE_CHECKING."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
              "def f():\n    from b import c\n")
    found = [getattr(n, "module", None) or n.names[0].name for n in _imports(ast.parse(source))]
    assert found == ["typing", "b"]


def test_tarjan_finds_each_cycle_once() -> None:
    """Two separate cycles and a tail come out as two components."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert strongly_connected(graph) == [["a", "b"], ["c", "d", "e"]]


def test_graph_covers_both_packages() -> None:
    """The graph is built from the real tree (a wrong root would make the other tests vacuous)."""
    graph = import_graph()
    assert "codex32.services.bots" in graph and "tenants.accounts" in graph
    assert "codex32.db.models" in graph["codex32.services.bots"]


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, at module level or inside a function."""
    graph = import_graph()
    cycles = strongly_connected(graph)
    report = "\n\n".join("cycle: " + ", ".join(c) + "\n  " + "\n  ".join(_cycle_edges(c, graph))
                         for c in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s):\n{report}"


@pytest.mark.parametrize("importer", sorted(FORBIDDEN))
def test_imports_point_down(importer: str) -> None:
    """A layer never imports a layer above it (see FORBIDDEN)."""
    graph = import_graph()
    wrong = sorted(f"{source} -> {target}"
                   for source, targets in graph.items() if _within(source, importer)
                   and not any(_within(source, entry) for entry in ENTRY)
                   for target in targets
                   for banned in FORBIDDEN[importer] if _within(target, banned))
    assert not wrong, f"{importer} must not import {FORBIDDEN[importer]}:\n" + "\n".join(wrong)
