"""The template catalogue: every template's metadata, bot and tests, read from package data.

A template is a folder ``templates/<id>/`` beside this module: ``template.yaml`` (metadata),
``bot.py`` (the bot, a real module whose marked parameter block the generator rewrites, and
which imports the shared ``templates/reliability.py``) and ``test_bot.py`` (its offline tests,
which import the shared ``templates/fakes.py``; the shared ``templates/reliability_tests.py``
test the reliability code of every bot). All of it is
read and checked once, at import: a broken template fails start-up and the tests, never a
generation. Rendering lives in template_generator.py; the built-in LLM reads ids, keywords and
slugs from here. No network, no Flask, no database.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from codex32.plugins.api import Template

PARAMETERS_START = "# codex32: parameters"
PARAMETERS_END = "# codex32: end of parameters"
RELIABILITY_MODULE = "reliability"  # bot.py's `from reliability import ...`, inlined when rendered
NAME_CONSTANT = "BOT_NAME"  # the bot's name; every other constant is a parameter, upper-cased
_CONSTANT_LINE = re.compile(r"^([A-Z][A-Z0-9_]*) = (.+)$")

_WORDS = {"type": "array", "items": {"type": "string", "minLength": 1}}
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "description", "task", "order", "slug", "keywords", "requires",
                 "network_when", "secrets", "parameters"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"},
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 1000},
        "task": {"type": "string", "minLength": 1, "maxLength": 100},
        "order": {"type": "integer"},
        "slug": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
        # ``against``: words of tasks the template cannot do ("price", "append"): a
        # description with one of them never gets this template.
        "keywords": {"type": "object", "required": ["strong", "weak"],
                     "additionalProperties": False,
                     "properties": {"strong": _WORDS, "weak": _WORDS, "against": _WORDS}},
        "requires": {"type": "object"},
        "network_when": {"type": ["string", "null"]},
        "secrets": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        # ``example``: an input event for the README's usage section, and what comes back.
        "example": {"type": "object", "required": ["input", "result"],
                    "additionalProperties": False,
                    "properties": {"input": {"type": "object"},
                                   "result": {"type": "string", "minLength": 1}}},
        "parameters": {"type": "object", "required": ["type", "properties", "required",
                                                       "additionalProperties"],
                       "properties": {"type": {"const": "object"},
                                      "properties": {"type": "object"},
                                      "additionalProperties": {"const": False}}},
    },
}


class BrokenTemplate(Exception):
    """A template folder whose files are missing, malformed or disagree with each other."""


@dataclass(frozen=True)
class TemplateSource:
    """One template as shipped: what it offers and the files its bots are rendered from."""

    template: Template
    code: str  # bot.py, with example values in its parameter block
    tests: str  # test_bot.py, importing the shared fakes
    # (constant, parameter) in the block's order; the parameter is None for NAME_CONSTANT.
    constants: tuple[tuple[str, str | None], ...]
    network_when: str | None  # the bot needs the network always (None) or when this is set
    secrets: tuple[str, ...]  # parameters whose value names one of the bot's secrets
    strong_keywords: tuple[str, ...]
    weak_keywords: tuple[str, ...]
    slug: str
    task: str
    order: int  # where it stands in lists, and in the built-in LLM's tie-breaks
    against_keywords: tuple[str, ...] = ()  # a description with one of them is another task
    example: dict[str, Any] | None = None  # {input, result}: the README's usage example


def load(root: Traversable) -> dict[str, TemplateSource]:
    """Every template folder under ``root`` by id, in ``order``; else BrokenTemplate says why."""
    folders = [f for f in root.iterdir() if f.is_dir() and f.name[0] not in "._"]
    if not folders:
        raise BrokenTemplate(f"no templates in {root}")
    found = [_load_one(folder) for folder in folders]
    return {s.template.id: s for s in sorted(found, key=lambda s: (s.order, s.template.id))}


def _load_one(folder: Traversable) -> TemplateSource:
    checking = "template.yaml"  # the file the error is in
    try:
        meta = yaml.safe_load((folder / checking).read_text(encoding="utf-8"))
        Draft202012Validator(METADATA_SCHEMA).validate(meta)
        Draft202012Validator.check_schema(meta["parameters"])
        if meta["id"] != folder.name:
            raise BrokenTemplate(f"its id is {meta['id']!r}, not the folder's name")
        parameters = meta["parameters"]
        _check_parameters(meta, parameters)
        checking = "bot.py"
        code = (folder / checking).read_text(encoding="utf-8")
        constants = _check_code(code, parameters)
        checking = "test_bot.py"
        tests = (folder / checking).read_text(encoding="utf-8")
        _check_tests(tests)
    except BrokenTemplate as exc:
        raise BrokenTemplate(f"template {folder.name!r}, {checking}: {exc}") from None
    except (OSError, ValueError, SyntaxError, yaml.YAMLError, ValidationError,
            SchemaError) as exc:
        problem = getattr(exc, "message", None) or str(exc)
        raise BrokenTemplate(f"template {folder.name!r}, {checking}: {type(exc).__name__}: "
                             f"{problem}") from exc
    return TemplateSource(
        template=Template(id=meta["id"], title=meta["title"], description=meta["description"],
                          parameters=parameters, requires=dict(meta["requires"])),
        code=code, tests=tests, constants=constants,
        network_when=meta["network_when"], secrets=tuple(meta["secrets"]),
        strong_keywords=tuple(meta["keywords"]["strong"]),
        weak_keywords=tuple(meta["keywords"]["weak"]), slug=meta["slug"], task=meta["task"],
        order=meta["order"], against_keywords=tuple(meta["keywords"].get("against", ())),
        example=meta.get("example"))


def _check_parameters(meta: dict[str, Any], parameters: dict[str, Any]) -> None:
    properties = parameters["properties"]
    for name, schema in properties.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise BrokenTemplate(f"parameter {name!r} is not a lowercase identifier")
        if name not in parameters["required"] and "default" not in schema:
            raise BrokenTemplate(f"parameter {name!r} is neither required nor has a default")
    for name in (meta["network_when"], *meta["secrets"]):
        if name is not None and name not in properties:
            raise BrokenTemplate(f"{name!r} (network_when or secrets) is not a parameter")


def parameter_block(code: str) -> tuple[int, int]:
    """Line indexes of the start and end markers of ``code``'s parameter block."""
    lines = code.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(PARAMETERS_START)]
    ends = [i for i, line in enumerate(lines) if line.startswith(PARAMETERS_END)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise BrokenTemplate(f"bot.py needs one block from {PARAMETERS_START!r} to "
                             f"{PARAMETERS_END!r}")
    return starts[0], ends[0]


def _check_code(code: str, parameters: dict[str, Any]) -> tuple[tuple[str, str | None], ...]:
    """The block's (constant, parameter) pairs, once bot.py is proven to fit the metadata."""
    tree = ast.parse(code, "bot.py")
    main = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    if not main or [a.arg for a in main[0].args.args] != ["event", "context"]:
        raise BrokenTemplate("bot.py defines no main(event, context)")
    start, end = parameter_block(code)
    constants, example = [], {}
    for line in code.splitlines()[start + 1:end]:
        if not line.strip() or line.startswith("#"):
            continue
        match = _CONSTANT_LINE.match(line)
        if match is None:
            raise BrokenTemplate(f"bot.py's parameter block has a line that is not "
                                 f"`NAME = literal`: {line!r}")
        constant, value = match.group(1), ast.literal_eval(match.group(2))
        parameter = None if constant == NAME_CONSTANT else constant.lower()
        constants.append((constant, parameter))
        if parameter is not None:
            example[parameter] = value
    expected = {NAME_CONSTANT} | {p.upper() for p in parameters["properties"]}
    if not any(isinstance(n, ast.ImportFrom) and n.module == RELIABILITY_MODULE
               and n.end_lineno == n.lineno for n in tree.body):
        raise BrokenTemplate(f"bot.py does not import its calls' reliability (one line "
                             f"`from {RELIABILITY_MODULE} import ...`)")
    if sorted(c for c, _ in constants) != sorted(expected):
        raise BrokenTemplate(f"bot.py's parameter block must set exactly {sorted(expected)}")
    # The block's values are the example bot that test_bot.py runs against.
    Draft202012Validator(parameters).validate(example)
    return tuple(constants)


def _check_tests(tests: str) -> None:
    tree = ast.parse(tests, "test_bot.py")
    clashes = sorted(_top_level_names(tree) & _SHARED_TEST_NAMES)
    if clashes:
        raise BrokenTemplate(f"test_bot.py defines {', '.join(clashes)}, which the shared fakes "
                             "or reliability tests define too (they are copied in beside it)")
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if any(n.end_lineno != n.lineno for n in imports):
        raise BrokenTemplate("test_bot.py's imports must be one line each")
    if not any(isinstance(n, ast.Import) and n.names[0].name == "bot" for n in imports):
        raise BrokenTemplate("test_bot.py does not `import bot`")
    if not any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in tree.body):
        raise BrokenTemplate("test_bot.py has no test")


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module defines at its top level (functions, classes, assigned names)."""
    names = {n.name for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


_ROOT = resources.files(__package__) / "templates"
FAKES: str = (_ROOT / "fakes.py").read_text(encoding="utf-8")
RELIABILITY: str = (_ROOT / f"{RELIABILITY_MODULE}.py").read_text(encoding="utf-8")
RELIABILITY_TESTS: str = (_ROOT / "reliability_tests.py").read_text(encoding="utf-8")
_SHARED_TEST_NAMES = frozenset(_top_level_names(ast.parse(FAKES))
                               | _top_level_names(ast.parse(RELIABILITY_TESTS)))
CATALOGUE: dict[str, TemplateSource] = load(_ROOT)
TEMPLATE_IDS: tuple[str, ...] = tuple(CATALOGUE)
