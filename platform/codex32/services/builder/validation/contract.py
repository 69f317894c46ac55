"""The contract step: bot.py is a module the runner can load, and test_bot.py tests it.

Read with :mod:`ast` only. bot.py must define ``main(event, context)`` at module level (two
positional parameters, not async) and do nothing at import beyond imports, constants,
definitions and a few pure constructors (``re.compile``, ``logging.getLogger``...): a bot's
work happens in ``main``, where its limits, logs and errors are the run's. test_bot.py must
exist and import ``bot``.
"""

from __future__ import annotations

import ast

from codex32.services.builder.report import Finding
from codex32.services.builder.validation.work import Checked, Work

STEP = "contract"
BOT, TESTS = "bot.py", "test_bot.py"
# Calls allowed in a top-level assignment: they build a value and touch nothing outside.
PURE_CALLS = {"getLogger", "compile", "frozenset", "set", "dict", "list", "tuple", "namedtuple",
              "TypeVar", "NewType", "field", "object", "timedelta", "timezone", "Decimal",
              "Lock", "RLock", "Event", "defaultdict", "OrderedDict", "deque", "Counter",
              "ZoneInfo", "Path", "PurePosixPath", "int", "float", "str", "bytes", "range",
              "sorted", "len", "getenv", "get", "Enum", "IntEnum", "StrEnum", "NamedTuple",
              "TypedDict", "Template", "escape", "dataclass", "cache", "lru_cache", "partial"}
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
               ast.Pass)


def check(work: Work) -> Checked:
    """Findings for a missing or wrong ``main``, top-level side effects, missing tests."""
    findings = []
    code = work.files.get(BOT)
    if code is None:
        findings.append(Finding(STEP, "bot.py is missing", path=BOT))
    else:
        findings += _bot(ast.parse(code, BOT))
    tests = work.files.get(TESTS)
    if tests is None:
        findings.append(Finding(STEP, "test_bot.py is missing: the bot needs tests", path=TESTS))
    elif not _imports_bot(ast.parse(tests, TESTS)):
        findings.append(Finding(STEP, "test_bot.py does not import bot", path=TESTS))
    return Checked(findings)


def _bot(tree: ast.Module) -> list[Finding]:
    findings = []
    mains = [node for node in tree.body
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main"]
    if not mains:
        findings.append(Finding(STEP, "bot.py defines no main(event, context) at module level",
                                path=BOT))
    for main in mains:
        findings += _signature(main)
    for index, node in enumerate(tree.body):
        if not _harmless(node, first=index == 0):
            findings.append(Finding(STEP, f"top-level {_describe(node)} runs when bot.py is "
                                          "imported: move it into main()", path=BOT,
                                    line=node.lineno, code="side-effect"))
    return findings


def _signature(main: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Finding]:
    def finding(message: str) -> Finding:
        return Finding(STEP, message, path=BOT, line=main.lineno, code="main")

    if isinstance(main, ast.AsyncFunctionDef):
        return [finding("main must be a plain function (the runner does not await it)")]
    args = main.args
    positional = [*args.posonlyargs, *args.args]
    required_keywords = [a for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                         if d is None]
    if len(positional) - len(args.defaults) > 2 or (len(positional) < 2 and not args.vararg):
        return [finding(f"main takes {len(positional)} positional parameters; it is called as "
                        "main(event, context)")]
    if required_keywords:
        return [finding("main has required keyword-only parameters; it is called as "
                        "main(event, context)")]
    return []


def _harmless(node: ast.stmt, first: bool) -> bool:
    if isinstance(node, DEFINITIONS):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # the docstring, or a stray string
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return node.value is None or _pure(node.value)
    if isinstance(node, ast.If):  # if __name__ == "__main__": / if TYPE_CHECKING:
        return _guard(node.test) or all(_harmless(n, False) for n in node.body + node.orelse)
    if isinstance(node, ast.Try):  # try: import x / except ImportError: x = None
        return all(_harmless(n, False) for n in
                   [*node.body, *node.orelse, *node.finalbody,
                    *(n for handler in node.handlers for n in handler.body)])
    return False


def _guard(test: ast.expr) -> bool:
    text = ast.unparse(test)
    return text in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or "__name__" in text


def _pure(value: ast.expr) -> bool:
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in PURE_CALLS:
                return False
        elif isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _describe(node: ast.stmt) -> str:
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        calls = [ast.unparse(n.func) for n in ast.walk(node.value) if isinstance(n, ast.Call)]
        return f"call {calls[0]}()" if calls else "assignment"
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return f"call {ast.unparse(node.value.func)}()"
    return type(node).__name__.lower() + " statement"


def _imports_bot(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "bot" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "bot" and not node.level:
            return True
    return False
