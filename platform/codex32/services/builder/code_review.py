"""Static review of a bot's files: what its code and tests lack, found by reading their syntax
trees (nothing runs). Each rule yields a :class:`Suggestion`; :mod:`.suggestions` adds the
bot's execution history and the model. No Flask, no database here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Calls that reach another host, by their dotted name as written (``requests.get``) or the
# last part of it (``urlopen``, after ``from urllib.request import urlopen``).
NETWORK_CALLS = frozenset({
    "urllib.request.urlopen", "request.urlopen", "urlopen",
    *(f"{lib}.{verb}" for lib in ("requests", "httpx", "session", "client")
      for verb in ("get", "post", "put", "patch", "delete", "head", "request")),
    "http.client.HTTPConnection", "http.client.HTTPSConnection", "HTTPConnection",
    "HTTPSConnection", "smtplib.SMTP", "smtplib.SMTP_SSL", "socket.create_connection"})
# urlopen(url, data, timeout): the timeout may be the third positional argument.
TIMEOUT_POSITION = {"urlopen": 2, "HTTPConnection": 2, "HTTPSConnection": 2, "SMTP": 2,
                    "SMTP_SSL": 2, "create_connection": 1}
_RETRYING = re.compile(r"retr(y|ies)|backoff|tenacity|attempt", re.IGNORECASE)
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY)$", re.IGNORECASE)
_FAILURE_TEST = re.compile(r"fail|error|invalid|raise|refus|unreach|timeout|bad|wrong|missing",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Suggestion:
    """One improvement: ``message`` is what a refine conversation would be started with."""

    id: str
    kind: str  # feature, optimization, test or reliability
    title: str
    detail: str
    impact: str  # high, medium or low
    effort: str  # low, medium or high
    source: str  # static, history or model
    message: str

    def as_dict(self, bot_id: str) -> dict[str, Any]:
        """The API's shape, with the call that turns it into a refine conversation."""
        return {"id": self.id, "kind": self.kind, "title": self.title, "detail": self.detail,
                "impact": self.impact, "effort": self.effort, "source": self.source,
                "message": self.message,
                "refine": {"method": "POST", "path": "/api/v1/builder/conversations",
                           "body": {"message": self.message, "bot_id": bot_id}}}


def review(files: dict[str, str], bot_settings: dict[str, Any]) -> list[Suggestion]:
    """Every static suggestion for the bot's files and settings."""
    code = files.get("bot.py", "")
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [Suggestion("static:syntax", "reliability", "The code does not compile",
                           "bot.py has a syntax error, so every run fails.", "high", "low",
                           "static", "Fix the syntax error in bot.py.")]
    tests = files.get("test_bot.py")
    found = _readable([lambda: _network(tree), lambda: _errors(tree), lambda: _logging(tree),
                       lambda: _secrets(tree), lambda: _sleeps(tree), lambda: _tests(tests)])
    if not bot_settings.get("notifications"):
        found.append(Suggestion(
            "static:no-notifications", "feature", "Hear about failed runs",
            "No notification is configured: a failed or timed-out run goes unnoticed.",
            "medium", "low", "static",
            "Notify me when this bot fails or times out."))
    return found


def _readable(rules: list[Callable[[], Iterable[Suggestion]]]) -> list[Suggestion]:
    """Every rule's suggestions; a rule whose recursive reading (``ast.unparse``, dotted names)
    meets nesting deeper than Python's recursion limit, in code that compiles, is skipped:
    the review is advice, and a tenant's odd code must not make it a 500."""
    found: list[Suggestion] = []
    for rule in rules:
        try:
            found.extend(rule())
        except RecursionError:
            continue
    return found


def _network(tree: ast.Module) -> Iterator[Suggestion]:
    calls = [(node, name) for node, name in _calls(tree) if _is_network(name)]
    if not calls:
        return
    without = [node for node, name in calls if not _has_timeout(node, name)]
    if without:
        lines = ", ".join(str(node.lineno) for node in without[:5])
        plural = "s" if len(without) > 1 else ""
        yield Suggestion(
            f"static:no-timeout:{without[0].lineno}", "reliability",
            "Give network calls a timeout",
            f"The network call{plural} on line{plural} {lines} can wait until the run's own "
            "timeout kills it.",
            "high", "low", "static",
            f"Add an explicit timeout to every network call in bot.py (lines {lines}) and "
            "report a clear error when it expires.")
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)} | \
        {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    if not any(_RETRYING.search(name) for name in names):
        yield Suggestion(
            "static:no-retries", "reliability", "Retry network calls with backoff",
            "Network calls are made once: a transient error (a reset connection, a 503) fails "
            "the whole run.", "medium", "low", "static",
            "Retry the bot's network calls on transient errors, with exponential backoff and "
            "a limit on attempts, and log each retry.")
    looped = [node for node, _ in calls if _in_loop(tree, node, retries_too=False)]
    if looped:
        yield Suggestion(
            f"static:calls-in-loop:{looped[0].lineno}", "optimization",
            "Cache or batch calls made in a loop",
            f"Line {looped[0].lineno} calls the network once per item of a loop.",
            "medium", "medium", "static",
            f"The network call on line {looped[0].lineno} of bot.py runs once per loop item: "
            "cache repeated requests and batch the rest where the service allows it.")


def _errors(tree: ast.Module) -> Iterator[Suggestion]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.ExceptHandler):
            continue
        broad = node.type is None or (isinstance(node.type, ast.Name)
                                      and node.type.id in ("Exception", "BaseException"))
        silent = all(isinstance(s, ast.Pass | ast.Continue) or
                     (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                     for s in node.body)
        if node.type is None or (broad and silent):
            what = "a bare except" if node.type is None else "an exception swallowed silently"
            yield Suggestion(
                f"static:swallowed-error:{node.lineno}", "reliability",
                "Do not hide errors", f"Line {node.lineno} has {what}: failures (and even "
                "KeyboardInterrupt) disappear without a trace.", "high", "low", "static",
                f"Replace {what} on line {node.lineno} of bot.py with the specific exceptions "
                "expected there, log them, and fail the run clearly on anything else.")
            return


def _logging(tree: ast.Module) -> Iterator[Suggestion]:
    uses = any(isinstance(n, ast.Attribute) and n.attr in ("logger", "info", "warning", "error",
                                                            "exception", "debug")
               for n in ast.walk(tree)) or any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        for n in ast.walk(tree))
    if not uses:
        yield Suggestion(
            "static:no-logging", "reliability", "Log what the bot does",
            "The bot writes no logs, so a failed run's logs say nothing about where it was.",
            "medium", "low", "static",
            "Log the bot's main steps and every failure through context.logger.")


def _secrets(tree: ast.Module) -> Iterator[Suggestion]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str) and len(node.value.value) >= 8:
            for target in node.targets:
                if isinstance(target, ast.Name) and _SECRET_NAME.search(target.id):
                    yield Suggestion(
                        f"static:hard-coded-secret:{node.lineno}", "reliability",
                        "Move a hard-coded secret into the bot's secrets",
                        f"Line {node.lineno} assigns a literal to {target.id}: anyone who "
                        "reads the code reads the secret.", "high", "low", "static",
                        f"Read {target.id} from context.secrets instead of the literal on "
                        f"line {node.lineno} of bot.py, and name the secret in config.yaml.")
                    return


def _sleeps(tree: ast.Module) -> Iterator[Suggestion]:
    for node, name in _calls(tree):
        if name in ("time.sleep", "sleep") and _in_loop(tree, node) \
                and not _RETRYING.search(ast.unparse(node)):
            yield Suggestion(
                f"static:sleep-in-loop:{node.lineno}", "optimization", "Avoid fixed waits",
                f"Line {node.lineno} sleeps inside a loop: the run spends its time waiting.",
                "low", "low", "static",
                f"Remove or shorten the fixed sleep on line {node.lineno} of bot.py; wait only "
                "where a service asks for it (Retry-After).")
            return


def _tests(tests: str | None) -> Iterator[Suggestion]:
    try:
        tree = ast.parse(tests or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = ast.Module(body=[], type_ignores=[])
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                 and n.name.startswith("test_")]
    if not functions:
        yield Suggestion(
            "static:no-tests", "test", "Add tests",
            "The bot has no tests: nothing shows that it works, or that a change keeps it "
            "working.", "high", "medium", "static",
            "Write pytest tests for this bot: the success path and the failure paths, every "
            "external call faked, edge cases parametrized.")
        return
    source = ast.unparse(tree)
    if "raises" not in source and not any(_FAILURE_TEST.search(f.name) for f in functions):
        yield Suggestion(
            "static:no-failure-tests", "test", "Test the failure paths",
            f"The {len(functions)} tests cover success only.", "medium", "low", "static",
            "Add tests for this bot's failure paths: an unreachable service, a bad answer, "
            "missing input.")
    if "parametrize" not in source:
        yield Suggestion(
            "static:no-parametrized-tests", "test", "Parametrize edge cases",
            "No test is parametrized over edge cases (empty input, unusual values).",
            "low", "low", "static",
            "Parametrize this bot's tests over edge cases: empty and missing input, very long "
            "values, unusual characters.")


def _calls(tree: ast.Module) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, _dotted(node.func)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_network(name: str) -> bool:
    return name in NETWORK_CALLS or name.split(".")[-1] in ("urlopen",) or \
        ".".join(name.split(".")[-2:]) in NETWORK_CALLS


def _has_timeout(call: ast.Call, name: str) -> bool:
    if any(keyword.arg == "timeout" or keyword.arg is None for keyword in call.keywords):
        return True
    position = TIMEOUT_POSITION.get(name.split(".")[-1])
    return position is not None and len(call.args) > position


def _in_loop(tree: ast.Module, target: ast.AST, *, retries_too: bool = True) -> bool:
    """Whether ``target`` runs once per item of a loop or a comprehension (a loop over
    attempts, ``for attempt in range(3)``, counts only when ``retries_too``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.While):
            header = node.target if isinstance(node, ast.For) else node.test
            if not retries_too and _RETRYING.search(ast.unparse(header)):
                continue
            inside: list[ast.AST] = list(node.body)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            inside = [node]
        else:
            continue
        if any(target is inner for part in inside for inner in ast.walk(part)):
            return True
    return False
