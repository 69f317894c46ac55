"""TemplateGenerator: ready-made, stdlib-only bots rendered from validated parameters.

The templates are files (template_catalogue.py reads them). Rendering rewrites one thing in a
template's bot.py: the values in its marked parameter block, each the ``repr()`` of a validated
JSON value proven to read back as itself. No other text is formatted with user input. A
generated bot is self-contained: the shared reliability code (templates/reliability.py) is
copied into its bot.py in place of the template's ``from reliability import ...``, and the
shared fakes and reliability tests into its test_bot.py. No network, no Flask, no database
here.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from codex32.plugins.api import (
    CodeGenerator,
    ConfigInvalid,
    GeneratedBot,
    GenerationRequest,
    Register,
    Template,
    hookimpl,
)
from codex32.plugins.defaults.template_catalogue import (
    CATALOGUE,
    FAKES,
    RELIABILITY,
    RELIABILITY_MODULE,
    RELIABILITY_TESTS,
    TEMPLATE_IDS,
    TemplateSource,
    parameter_block,
)

__all__ = ["TEMPLATE_IDS", "TemplateGenerator", "validate_parameters"]

MAX_NAME_LENGTH = 200
# Every template here may reach another host (the `requires` of a template and of a bot).


class TemplateGenerator(CodeGenerator):
    """Bots from ready-made templates; works offline and never asks a model."""

    id = "template"
    title = "Templates"
    description = (f"Ready-made bots ({', '.join(s.task for s in CATALOGUE.values())}) "
                   "rendered from validated parameters; standard library only.")
    capabilities = frozenset({"templates"})

    def templates(self) -> list[Template]:
        """The templates on offer, each with its parameters' JSON Schema."""
        return [source.template for source in CATALOGUE.values()]

    def generate(self, request: GenerationRequest) -> GeneratedBot:
        """Render bot.py, config.yaml, requirements.txt, README.md and test_bot.py."""
        spec = request.specification or {}
        template_id = request.template or spec.get("template")
        source = CATALOGUE.get(template_id) if isinstance(template_id, str) else None
        if source is None:
            raise ConfigInvalid("unknown template", {
                "template": [f"choose one of: {', '.join(TEMPLATE_IDS)}"]})
        name = " ".join(str(request.name or "").split())
        if not name or len(name) > MAX_NAME_LENGTH:
            raise ConfigInvalid("invalid bot name",
                                {"name": [f"1 to {MAX_NAME_LENGTH} characters"]})
        found = spec.get("parameters")
        from_spec = found if isinstance(found, dict) else {}
        supplied = {**from_spec, **(request.parameters or {})}
        parameters = validate_parameters(source.template, supplied)
        requires = _requires(source, parameters)
        return GeneratedBot(requires=requires, files={
            "bot.py": _render_code(source, name, parameters),
            "config.yaml": _render_config(source, name, request.description, spec,
                                          parameters, requires),
            "requirements.txt": "# Standard library only: this bot needs no packages.\n",
            "README.md": _render_readme(source, name, request.description, parameters),
            "test_bot.py": _render_tests(source),
        })


def validate_parameters(template: Template, supplied: dict[str, Any]) -> dict[str, Any]:
    """Apply the schema's defaults and validate; ConfigInvalid lists errors per parameter."""
    schema = template.parameters
    if not isinstance(supplied, dict):
        raise ConfigInvalid("parameters must be an object", {"parameters": ["not an object"]})
    parameters = {key: spec["default"] for key, spec in schema.get("properties", {}).items()
                  if "default" in spec}
    parameters.update(supplied)
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(parameters):
        if error.validator == "required":
            fields = [n for n in error.validator_value if n not in error.instance]
        elif error.validator == "additionalProperties":
            fields = [n for n in error.instance if n not in schema.get("properties", {})]
        else:
            fields = [".".join(str(p) for p in error.absolute_path) or "parameters"]
        for field in fields:
            message = "unknown parameter" if error.validator == "additionalProperties" else (
                "required" if error.validator == "required" else _message(error))
            errors.setdefault(f"parameters.{field}", []).append(message)
    if not errors:
        for key, value in parameters.items():
            # JSON has no NaN or infinity, and repr() of them is not a Python literal.
            try:
                json.dumps(value, allow_nan=False)
            except ValueError:
                errors.setdefault(f"parameters.{key}", []).append("must be a finite number")
    if errors:
        raise ConfigInvalid(f"invalid parameters for template {template.id!r}", errors)
    return {key: parameters[key] for key in schema.get("properties", {}) if key in parameters}


def _message(error: Any) -> str:
    if error.validator == "pattern":
        return "must be an http(s) URL" if "https?" in error.validator_value else \
            f"must match {error.validator_value}"
    return error.message if len(error.message) <= 200 else f"fails {error.validator}"


def _literal(value: Any) -> str:
    """``repr`` of a JSON value, proven to read back as exactly that value."""
    text = repr(value)
    if ast.literal_eval(text) != value:
        raise ConfigInvalid("a parameter cannot be rendered", {"parameters": [text[:50]]})
    return text


def _render_code(source: TemplateSource, name: str, parameters: dict[str, Any]) -> str:
    """bot.py as shipped, with each constant of its parameter block set to this bot's value."""
    start, end = parameter_block(source.code)
    lines = source.code.splitlines()
    values = iter(name if key is None else parameters[key] for _, key in source.constants)
    block = [line if not line.strip() or line.startswith("#")
             else f"{line.split(' = ', 1)[0]} = {_literal(next(values))}"
             for line in lines[start + 1:end]]
    code = _with_reliability("\n".join([*lines[:start + 1], *block, *lines[end:]]) + "\n")
    compile(code, "bot.py", "exec")  # a template bug must fail here, not in the sandbox
    return code


def _with_reliability(code: str) -> str:
    """bot.py with the shared reliability code appended and its imports merged in, in place of
    the template's ``from reliability import ...``."""
    doc, imports, rest = _split_imports(code)
    _, own, body = _split_imports(RELIABILITY)
    return (f"{doc}\n\n{_merged_imports([*imports, *own], skip=(RELIABILITY_MODULE,))}\n\n"
            f"{rest}\n\n{RELIABILITY_HEADER}\n\n{body}")


RELIABILITY_HEADER = (
    "# codex32: reliability, the same in every template bot: retries with jittered exponential\n"
    "# backoff, a circuit breaker per host, a cache for repeated reads, the run's metrics.")


def _requires(source: TemplateSource, parameters: dict[str, Any]) -> dict[str, Any]:
    """What the bot rendered with ``parameters`` needs: what its template declares, unless
    ``network_when`` names a parameter left unset (then nothing)."""
    condition = source.network_when
    return dict(source.template.requires) if condition is None or parameters.get(condition) else {}


def _render_config(source: TemplateSource, name: str, description: str, spec: dict[str, Any],
                   parameters: dict[str, Any], requires: dict[str, Any]) -> str:
    config: dict[str, Any] = {"name": name, "description": description or "",
                              "template": source.template.id, "entrypoint": "bot.py",
                              "runtime": "python3"}
    for key in ("trigger", "schedule"):
        if isinstance(spec.get(key), str) and len(spec[key]) <= 200:
            config[key] = spec[key]
    config["parameters"] = parameters
    if requires:
        config["requires"] = requires
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _render_readme(source: TemplateSource, name: str, description: str,
                   parameters: dict[str, Any]) -> str:
    template = source.template
    properties = template.parameters.get("properties", {})
    rows = "\n".join(
        f"| `{key}` | `{_cell(json.dumps(value))}` | "
        f"{_cell(properties.get(key, {}).get('description', ''))} |"
        for key, value in parameters.items())
    about = description.strip() if description and description.strip() else template.description
    secrets = ", ".join(f"`{_cell(parameters[key])}` (`{key}`)" for key in source.secrets
                        if parameters.get(key))
    return (f"# {_cell(name)}\n\n{about}\n\n"
            f"Generated from the `{template.id}` template ({template.title}): "
            f"{template.description}\n\n"
            "## Parameters\n\n| parameter | value | meaning |\n| --- | --- | --- |\n"
            f"{rows}\n\n"
            "## Contract\n\n`bot.py` defines `main(event: dict, context) -> dict`; `context` "
            "gives `logger`, `secrets` and `execution_id`. It uses the standard library only.\n\n"
            + (f"## Secrets\n\nSet these bot secrets before it runs: {secrets}.\n\n"
               if secrets else "")
            + _usage(source)
            + README_RELIABILITY
            + "## Tests\n\n```bash\npytest test_bot.py\n```\n\n"
            "They run offline: network calls are replaced by fakes.\n")


def _usage(source: TemplateSource) -> str:
    """How to run the bot, with the template's example input and what it returns."""
    example = source.example or {"input": {}, "result": "a JSON object, with `metrics`"}
    body = json.dumps({"input": example["input"]}, indent=2)
    return ("## Usage\n\nRun it from the API (`POST /api/v1/bots/<bot id>/executions`) with "
            "this body, or give the same event to `main(event, context)`:\n\n"
            f"```json\n{body}\n```\n\n"
            f"It returns {example['result']}.\n\n")


README_RELIABILITY = (
    "## Reliability and troubleshooting\n\n"
    "Every external call goes through `Calls` (at the end of `bot.py`): a call that fails for "
    "a passing reason (no connection, a timeout, HTTP 408, 425, 429, 5xx) is tried 3 times in "
    "all, after a jittered exponential backoff; 3 calls to a host in a row that fail open its "
    "circuit breaker for 60 s; repeated reads are cached for 300 s. The result's `metrics` "
    "counts calls, attempts, retries, failures, cache hits and short circuits, the time spent "
    "calling (`call_ms`) and in all (`run_ms`), and each host's breaker state.\n\n"
    "- `... failed after 3 attempts: ...`: the host could not be reached or kept failing; "
    "check the URL, and that the bot has network access.\n"
    "- `... failed (not retried): HTTP 4xx`: the host refused the request; check the URL and "
    "the secrets.\n"
    "- `... not tried, the circuit breaker of ... is open`: the host failed repeatedly just "
    "before; the next call after 60 s tries again.\n\n")


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell or heading line."""
    return re.sub(r"\s+", " ", text).replace("|", "\\|").replace("`", "'")


def _render_tests(source: TemplateSource) -> str:
    """test_bot.py as shipped, with the shared fakes before its tests and the shared
    reliability tests after them: the bot needs no other file."""
    doc, test_imports, tests = _split_imports(source.tests)
    _, fake_imports, fakes = _split_imports(FAKES)
    _, reliability_imports, reliability_tests = _split_imports(RELIABILITY_TESTS)
    imports = _merged_imports([*test_imports, *fake_imports, *reliability_imports],
                              skip=("bot", "fakes"))
    code = (f"{doc}\n\n{imports}\n\nimport bot\n\n\n{fakes}\n\n{tests}\n\n"
            f"{reliability_tests}")
    compile(code, "test_bot.py", "exec")
    return code


def _merged_imports(lines: list[str], skip: tuple[str, ...]) -> str:
    """One block of the import ``lines`` (each one statement), those of a module in ``skip``
    left out: ``from __future__`` first, then plain imports and from-imports, each sorted as
    isort sorts them, names of one module merged."""
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for line in lines:
        node = ast.parse(line.strip()).body[0]
        if isinstance(node, ast.Import):
            plain.update(a.name if a.asname is None else f"{a.name} as {a.asname}"
                         for a in node.names if a.name not in skip)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module not in skip:
            names.setdefault(node.module, set()).update(
                a.name if a.asname is None else f"{a.name} as {a.asname}" for a in node.names)
    future = names.pop("__future__", set())
    block = [f"import {name}" for name in sorted(plain)] + [
        f"from {module} import {', '.join(sorted(found, key=_isort_key))}"
        for module, found in sorted(names.items())]
    head = f"from __future__ import {', '.join(sorted(future))}\n\n" if future else ""
    return head + "\n".join(block)


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order of names in one from-import: constants, classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name.lower())


def _split_imports(code: str) -> tuple[str, list[str], str]:
    """(docstring, import lines, the rest) of a module whose imports are one line each."""
    tree = ast.parse(code)
    lines = code.splitlines()
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    has_doc = ast.get_docstring(tree) is not None
    doc = "\n".join(lines[:tree.body[0].end_lineno]) if has_doc else ""
    rest = "\n".join(lines[imports[-1].end_lineno:]).strip("\n") + "\n"
    return doc, [lines[n.lineno - 1] for n in imports], rest


@hookimpl
def register_code_generators(register: Register) -> None:
    """Provide :class:`TemplateGenerator` (id ``template``)."""
    register(TemplateGenerator)
