"""Producing a bot's files: from a language model through the gateway, or from a template.

- :func:`from_model` asks the workspace's model (purpose ``builder``) for the files as JSON,
  checks the answer (every file, sane sizes, pinned requirements) and asks once more when it is
  malformed; a refusal, a second malformed answer or a gateway error is a
  :class:`GenerationFailed` saying so.
- :func:`from_template` renders a template-shaped specification with the template generator
  (:mod:`codex32.services.templates`), the offline path.

Both open their own short sessions and hold none across a model or generator call. config.yaml
is not produced here: :mod:`.config_file` writes it from the specification.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import yaml

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.auth.rbac import Role
from codex32.db import tenancy
from codex32.errors import DomainError
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import gateway, templates
from codex32.services.builder import answers, prompts

MAX_FILE_CHARS = 200_000
MAX_TOTAL_CHARS = 500_000
MAX_ANSWER_TOKENS = 16_000  # four complete files; gpt-4o-mini's output limit is 16,384
DEADLINE_SECONDS = 120
REQUIRED_TEXT = ("bot.py", "test_bot.py", "README.md")  # requirements.txt may be empty
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.*+!_-]+"
                     r"(\s*;.*)?$")


class GenerationFailed(Exception):
    """No files could be produced; the message says why, for the build's ``stopped``."""


def from_model(workspace_id: str, messages: list[tuple[str, str]], *, caller: gateway.Caller,
               partial: bool = False) -> dict[str, str]:
    """The files the model answers to ``messages`` (a repair, ``partial``, may leave some out).

    A malformed answer is sent back with its problems once; the second must be right.
    """
    conversation = [Message(role, content) for role, content in messages]
    for attempt in (1, 2):
        text, cut_off = _ask(workspace_id, conversation, caller)
        files, problems, refusal = check_answer(text, partial=partial)
        if cut_off and files is None:
            problems.insert(0, "it was cut off at the token limit: write shorter files")
        if refusal is not None:
            raise GenerationFailed(f"the model declined to write this bot: {refusal}")
        if files is not None:
            return files
        if attempt == 2:
            raise GenerationFailed("the model's answer was malformed twice: "
                                   + "; ".join(problems[:5]))
        conversation += [Message("assistant", text[:20_000]),
                         Message(*prompts.reask_message(problems))]
    raise AssertionError("unreachable")


def _ask(workspace_id: str, messages: list[Message], caller: gateway.Caller
         ) -> tuple[str, bool]:
    """(the model's answer, whether it was cut off at the token limit)."""
    request = ChatRequest(messages=tuple(messages), temperature=0.2,
                          max_tokens=MAX_ANSWER_TOKENS, json_mode=True,
                          response_schema={"name": "bot_files",
                                           "schema": prompts.ANSWER_SCHEMA},
                          timeout=DEADLINE_SECONDS)
    try:
        result = gateway.chat(workspace_id, request, purpose="builder", caller=caller,
                              deadline_seconds=DEADLINE_SECONDS)
        return result.text, result.finish_reason in ("length", "max_tokens")
    except DomainError as exc:
        raise GenerationFailed(f"the model could not be asked ({exc.status}): "
                               f"{exc.message}") from exc


def check_answer(text: str, *, partial: bool = False
                 ) -> tuple[dict[str, str] | None, list[str], str | None]:
    """(files, problems, refusal) of a model's answer; files is None when it is unusable."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:  # some models fence JSON even in JSON mode
        body = fenced.group(1)
    try:
        answer = answers.loads(body)
    except json.JSONDecodeError as exc:
        # Some models wrap the object in a sentence: take the outermost braces once.
        start, end = body.find("{"), body.rfind("}")
        try:
            answer = answers.loads(body[start:end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            answer = None
        if answer is None:
            return None, [f"it is not JSON ({exc.msg} at character {exc.pos})"], None
    if not isinstance(answer, dict):
        return None, ["it is not a JSON object"], None
    if isinstance(answer.get("refusal"), str) and answer["refusal"].strip() \
            and not answer.get("files"):
        return None, [], answer["refusal"].strip()[:2000]
    files = answer.get("files")
    if not isinstance(files, dict):
        return None, ['it has no "files" object'], None
    files = {path: content for path, content in files.items() if path != "config.yaml"}
    problems = []  # config.yaml is the pipeline's to write: a model's own is dropped
    unknown = sorted(set(files) - set(prompts.MODEL_FILES))
    if unknown:
        problems.append(f"unknown files {unknown}: write only {', '.join(prompts.MODEL_FILES)}")
    for path in prompts.MODEL_FILES:
        content = files.get(path)
        if content is None:
            if not partial:
                problems.append(f"{path} is missing")
        elif not isinstance(content, str):
            problems.append(f"{path} is not a string")
        elif path in REQUIRED_TEXT and not content.strip():
            problems.append(f"{path} is empty")
        elif len(content) > MAX_FILE_CHARS:
            problems.append(f"{path} is longer than {MAX_FILE_CHARS} characters")
    if sum(len(c) for c in files.values() if isinstance(c, str)) > MAX_TOTAL_CHARS:
        problems.append(f"the files are longer than {MAX_TOTAL_CHARS} characters together")
    if partial and not files:
        problems.append("it changes no file")
    requirements = files.get("requirements.txt")
    if isinstance(requirements, str):
        problems += [f"requirements.txt line {number} is not pinned as name==version: {line!r}"
                     for number, line in enumerate(requirements.splitlines(), 1)
                     if line.strip() and not line.strip().startswith("#")
                     and not _PINNED.match(line.strip())][:5]
    if problems:
        return None, problems, None
    return {path: files[path] for path in prompts.MODEL_FILES if path in files}, [], None


def from_template(workspace_id: str, spec: dict[str, Any], *, caller: gateway.Caller
                  ) -> tuple[dict[str, str], dict[str, Any]]:
    """(files, template) rendered from the specification's template and parameters; the
    template dict holds its id, parameters and requires (for config.yaml)."""
    template = spec.get("template")
    parameters = spec.get("parameters") or {}
    principal = Principal(workspace_id=uuid.UUID(str(workspace_id)), role=Role.USER.value,
                          user_id=caller.user_id, api_key_id=caller.api_key_id)
    try:
        with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
            generation = templates.prepare(
                session, principal, template=str(template), generator=None,
                parameters=parameters, name=spec.get("name") or "new-bot",
                description=spec.get("purpose") or "")
        generated = generation.run()  # its session closed (read only): none held meanwhile
    except DomainError as exc:
        detail = "; ".join(_problems(exc.errors or {}))
        raise GenerationFailed(f"the template {template!r} cannot be rendered from this "
                               f"specification: {exc.message}" + (f" ({detail})" if detail
                                                                  else "")) from exc
    files = {path: content for path, content in generated.files.items()
             if path != "config.yaml"}
    return files, {"id": template, "parameters": _rendered_parameters(generated.files),
                   "requires": dict(generated.requires)}


HEURISTICS_LABEL = ("Generated offline by Codex-32: the built-in heuristics (not a language "
                    "model) drafted the specification and the template generator wrote this "
                    "file from the `{template}` template.")


def labelled(files: dict[str, str], template: str) -> dict[str, str]:
    """``files`` with a line saying where they came from (the offline path): a comment atop
    the Python files and requirements.txt, a note under the README's title."""
    words = HEURISTICS_LABEL.format(template=template).split()
    comment, line = [], "#"
    for word in words:  # wrapped, so that no line is long
        if len(line) + len(word) > 90:
            comment.append(line)
            line = "#"
        line += " " + word
    header = "\n".join([*comment, line]) + "\n"
    found = {}
    for path, text in files.items():
        if path.endswith(".py") or path == "requirements.txt":
            found[path] = header + text
        elif path == "README.md":
            title, _, rest = text.partition("\n")
            found[path] = f"{title}\n\n> {' '.join(words)}\n{rest}"
        else:
            found[path] = text
    return found


def _problems(errors: dict[str, Any]) -> list[str]:
    """``field: why`` lines of an error's nested ``errors`` (the API's ``json`` level left out)."""
    found = []
    for field, why in errors.items():
        if isinstance(why, dict):
            found += _problems(why)
        elif isinstance(why, list):
            found.append(f"{field}: {', '.join(map(str, why))}")
    return found


def _rendered_parameters(files: dict[str, str]) -> dict[str, Any]:
    """The parameters the generator validated (defaults applied), read from its config.yaml."""
    try:
        found = yaml.safe_load(files.get("config.yaml") or "") or {}
    except yaml.YAMLError:
        return {}
    parameters = found.get("parameters") if isinstance(found, dict) else None
    return parameters if isinstance(parameters, dict) else {}
