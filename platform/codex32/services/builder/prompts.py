"""The builder's model prompts: what a generated bot must be, and the answer's JSON shape.

Text only: no gateway calls, no database. :mod:`.generate` sends these through the gateway and
checks the answers against :data:`ANSWER_SCHEMA`.
"""

from __future__ import annotations

import json
from typing import Any

from codex32.services.builder.report import Finding

# The files a model writes; config.yaml is written by the pipeline from the specification.
MODEL_FILES = ("bot.py", "requirements.txt", "test_bot.py", "README.md")

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "files": {
            "type": "object", "additionalProperties": False,
            "properties": {path: {"type": "string"} for path in MODEL_FILES},
        },
        "refusal": {"type": "string", "maxLength": 2000},
        "notes": {"type": "string", "maxLength": 4000},
    },
}

SYSTEM = """You write bots for Codex-32. A bot is one Python 3.11 module, bot.py, run once per \
execution in a sandbox without network unless its specification needs it.

The contract of bot.py:
- It defines `main(event: dict, context) -> dict`; `event` is the run's JSON input.
- `context.logger` is a logging.Logger (log progress and failures through it),
  `context.secrets` a dict of secret name -> value (read only the secrets the specification
  names), `context.execution_id` and `context.bot_id` strings, `context.llm.chat(messages,
  **params)` -> {"text", ...} the workspace's language model when the bot needs one.
- The return value is JSON data (a dict): put the bot's own metrics in it (counts, durations).
- Type hints and docstrings; explicit error handling with clear messages; every external call
  has a timeout, retries with exponential backoff and a simple circuit breaker; cache a call
  that repeats. Standard library first.

The files you write:
- bot.py as above.
- requirements.txt: one pinned requirement per line (`name==version`), or only a comment line
  when the bot needs nothing beyond the standard library.
- test_bot.py: pytest tests that `import bot`; fixtures; success and failure paths;
  every external call faked (monkeypatch the functions bot.py calls: no network, no real
  secrets); parametrized edge cases; a small fake context with `logger`, `secrets`,
  `execution_id`, `bot_id`. Aim at 80 % line coverage of bot.py.
- README.md: `# <name>`, then the sections Overview, Configuration (secrets, settings),
  Usage (an example input event and its result), Troubleshooting.

Answer with one JSON object and nothing else, matching this JSON Schema:
""" + json.dumps(ANSWER_SCHEMA) + """
Put every file in `files` with its complete content. When you cannot write this bot (the \
request is unsafe or impossible), answer {"refusal": "why"} instead."""


def generation_messages(spec: dict[str, Any], previous: dict[str, str] | None,
                        starting: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(role, content) pairs asking for a new bot, or for ``previous`` changed to fit ``spec``;
    ``starting`` is a template's rendered bot that fits part of the specification."""
    asked = ("Write the bot this specification describes.\n\nSpecification:\n"
             + json.dumps(spec, indent=1, ensure_ascii=False))
    if starting and not previous:
        asked += ("\n\nA ready-made template bot, tested, already does part of this: start "
                  "from it, keep what fits and its tests' style.\n" + _files_text(starting))
    if previous:
        asked = ("Change this existing bot so that it fits the specification; keep what still "
                 "fits.\n\nSpecification:\n" + json.dumps(spec, indent=1, ensure_ascii=False)
                 + "\n\nThe bot's current files:\n" + _files_text(previous))
    return [("system", SYSTEM), ("user", asked)]


def repair_messages(spec: dict[str, Any], files: dict[str, str], findings: list[Finding],
                    output: str) -> list[tuple[str, str]]:
    """(role, content) pairs asking to repair ``files`` after a failed validation."""
    problems = "\n".join(_finding_line(f) for f in findings[:50]) or "(no findings listed)"
    asked = ("These files failed validation. Fix every problem below and answer the files you "
             "change, complete (files you leave out are kept as they are).\n\nSpecification:\n"
             + json.dumps(spec, indent=1, ensure_ascii=False) + "\n\nProblems:\n" + problems
             + (f"\n\nTool output:\n{output[-6000:]}" if output.strip() else "")
             + "\n\nThe files:\n" + _files_text(files))
    return [("system", SYSTEM), ("user", asked)]


def reask_message(problems: list[str]) -> tuple[str, str]:
    """The user turn sent after a malformed answer."""
    return ("user", "Your answer could not be used: " + "; ".join(problems[:10])
            + ". Answer again with only the JSON object described above.")


def _finding_line(finding: Finding) -> str:
    where = finding.path or ""
    if finding.line:
        where += f":{finding.line}"
    code = f" [{finding.code}]" if finding.code else ""
    return f"- {finding.step}{code} {where} {finding.message}".replace("  ", " ")


def _files_text(files: dict[str, str]) -> str:
    return "\n".join(f"--- {path} ---\n{content}" for path, content in sorted(files.items()))


# -- suggestions for an existing bot ---------------------------------------------------------

SUGGESTION_LEVELS = ["high", "medium", "low"]
SUGGESTIONS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["suggestions"],
    "properties": {"suggestions": {"type": "array", "maxItems": 10, "items": {
        "type": "object", "required": ["kind", "title", "detail", "impact", "effort", "message"],
        "properties": {
            "kind": {"enum": ["feature", "optimization", "test", "reliability"]},
            "title": {"type": "string", "minLength": 3, "maxLength": 120},
            "detail": {"type": "string", "maxLength": 1000},
            "impact": {"enum": SUGGESTION_LEVELS}, "effort": {"enum": SUGGESTION_LEVELS},
            "message": {"type": "string", "minLength": 3, "maxLength": 1000}}}}},
}

SUGGEST_SYSTEM = """You review bots for Codex-32 (Python modules with `main(event, context)` \
run in a sandbox). Suggest at most 5 improvements that matter for this bot: new features its \
users would want, optimizations, missing tests, reliability fixes. Do not repeat the \
suggestions already found. For each, `message` is the request a user would send to the bot \
builder to make the change (one or two sentences, imperative).

Answer with one JSON object and nothing else, matching this JSON Schema:
""" + json.dumps(SUGGESTIONS_SCHEMA)


def suggestion_messages(name: str, description: str, files: dict[str, str], history: str,
                        found: list[str]) -> list[tuple[str, str]]:
    """(role, content) pairs asking for suggestions on an existing bot."""
    shown: dict[str, str] = {path: files[path][:12_000]
                             for path in ("bot.py", "test_bot.py", "config.yaml")
                             if path in files}
    asked = (f"Bot: {name}\nDescription: {description or '(none)'}\n\nExecution history: "
             f"{history}\n\nAlready found:\n" + ("\n".join(f"- {t}" for t in found) or "(none)")
             + "\n\nThe bot's files:\n" + _files_text(shown))
    return [("system", SUGGEST_SYSTEM), ("user", asked)]
