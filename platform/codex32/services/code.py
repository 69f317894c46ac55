"""Checks on bot code before it is stored: it compiles, and it defines ``main(event, context)``.

Nothing is executed here: the code is parsed and compiled, and its syntax tree is read for
the last top-level definition of ``main`` (the one a run calls). Code that would only fail
when run is refused when it is stored, with the line to fix.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import NoReturn

from codex32.errors import Invalid

CALLED_AS = "it is called as main(event, context)"


def check_code(code: str) -> None:
    """Raise ``Invalid`` with the line and reason when ``code`` cannot run as a bot."""
    try:
        tree = ast.parse(code, "bot.py")
        compile(tree, "bot.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = (f"line {exc.lineno}, column {exc.offset}" if exc.lineno and exc.offset else
                 f"line {exc.lineno}" if exc.lineno else "")
        detail = f"{where}: {exc.msg}" if where else exc.msg
        _refuse(f"the code does not compile ({detail})", detail, exc)
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. null bytes, deep nesting
        _refuse("the code does not compile", str(exc)[:200], exc)
    problem = _main_problem(tree)
    if problem:
        _refuse(f"the code cannot run as a bot: {problem}", problem)


def _refuse(message: str, detail: str, cause: BaseException | None = None) -> NoReturn:
    raise Invalid(message, errors={"json": {"code": [detail]}}) from cause


def _main_problem(tree: ast.Module) -> str | None:
    """Why the last top-level binding of ``main`` cannot be called with two arguments."""
    last = None
    for statement in _top_level(tree.body):
        if _binds_main(statement):
            last = statement
    if last is None:
        return "the code must define a function main(event, context) at its top level"
    if isinstance(last, ast.AsyncFunctionDef):
        return f"line {last.lineno}: main must be a plain function (def), not async def"
    if not isinstance(last, ast.FunctionDef):
        return (f"line {last.lineno}: main is not bound by a def; the code must define a "
                "function main(event, context) at its top level")
    return _signature_problem(last)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import, in order: the module's, and inside if/try/with blocks."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If | ast.With):
            yield from _top_level(statement.body)
            yield from _top_level(getattr(statement, "orelse", []))
        elif isinstance(statement, ast.Try | ast.TryStar):
            yield from _top_level(statement.body)
            for handler in statement.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(statement.orelse)
            yield from _top_level(statement.finalbody)


def _binds_main(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name == "main"
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return any((alias.asname or alias.name) == "main" for alias in statement.names)
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        targets = [statement.target]
    return any(isinstance(node, ast.Name) and node.id == "main"
               for target in targets for node in ast.walk(target))


def _signature_problem(main: ast.FunctionDef) -> str | None:
    """Why ``main`` cannot be called as ``main(event, context)``, or None."""
    arguments = main.args
    positional = [*arguments.posonlyargs, *arguments.args]
    required = len(positional) - len(arguments.defaults)
    shown = f"main({', '.join(argument.arg for argument in positional)})"
    if len(positional) < 2 and arguments.vararg is None:
        plural = "" if len(positional) == 1 else "s"
        return (f"line {main.lineno}: {shown} takes {len(positional)} positional "
                f"argument{plural}; {CALLED_AS}")
    if required > 2:
        return f"line {main.lineno}: {shown} requires {required} positional arguments; {CALLED_AS}"
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        if default is None:
            return (f"line {main.lineno}: main has a required keyword-only argument "
                    f"'{argument.arg}'; {CALLED_AS}")
    return None
