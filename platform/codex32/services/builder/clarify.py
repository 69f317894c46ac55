"""One turn of the builder's conversation: the user's words in, the assistant's turn out.

The turn is one gateway call (purpose ``builder``, the conversation as caller) asking for
structured output: the updated specification, at most three questions, suggestions. The
answer is validated (:func:`.spec.errors` and the turn's own schema) and, when invalid,
repaired once with one more call that lists the errors; an answer invalid twice is a 502,
never shown. When the workspace's route answers with the built-in heuristics (no language
model configured) their draft is mapped onto the schema (:mod:`.heuristics`) and the turn
says so (``source: "heuristics"``).

Then the rules that hold whoever answered: what the user settled (answers by question id,
defaults accepted with "use defaults" or "go ahead") stays settled; a question about a
settled field is never asked; at most three questions per turn. No database here: the caller
reads the conversation (and what the workspace's route reaches, :mod:`.model_route`) into a
:class:`Context` and ends its transaction first.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from croniter import croniter
from jsonschema import Draft202012Validator

from codex32 import runtime
from codex32.errors import BadGateway, Invalid
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import gateway
from codex32.services.builder import answers, heuristics, model_route
from codex32.services.builder import spec as specs

MAX_QUESTIONS = 3
MAX_TOKENS = 4096
DEADLINE_SECONDS = 90
_DEFAULTS = re.compile(r"\b(use (the )?defaults?|defaults? (are|is) fine|go ahead|proceed|"
                       r"just build( it)?|build it|sounds good|looks good|that'?s (all|it))\b",
                       re.IGNORECASE)

QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["field", "question", "why"],
    "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": 200,
                  "description": "the specification field it settles, dotted: trigger.cron"},
        "question": {"type": "string", "minLength": 1, "maxLength": 1000},
        "why": {"type": "string", "maxLength": 1000},
        "options": {"type": "array", "maxItems": 10,
                    "items": {"type": "string", "maxLength": 500}},
        "default": {"type": ["string", "number", "boolean", "null"]},
    },
}
# What the model is asked for: the whole turn as one object.
TURN_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["message", "specification", "questions", "suggestions"],
    "properties": {
        "message": {"type": "string", "maxLength": 4000},
        "specification": {k: v for k, v in specs.SPEC_SCHEMA.items() if k != "$schema"},
        "questions": {"type": "array", "maxItems": MAX_QUESTIONS, "items": QUESTION_SCHEMA},
        "suggestions": {"type": "array", "maxItems": 5,
                        "items": {"type": "string", "maxLength": 500}},
    },
}
# The envelope alone (the specification is checked by spec.errors, as everywhere).
_ENVELOPE = Draft202012Validator({**TURN_SCHEMA, "properties": {
    **TURN_SCHEMA["properties"], "specification": {"type": "object"}}})

SYSTEM_PROMPT = """You are the bot builder of Codex-32. A bot is a Python program with
main(event, context) that runs in a sandbox, manually, on a schedule (cron, time zone) or on
a webhook. Keep the specification up to date with what the user says; never invent URLs,
addresses or secrets they did not give. Ask only what is missing or ambiguous AND changes the
generated bot, at most three questions, each with the dotted specification field it settles
(trigger.cron, outputs, parameters.url...), why it matters and a sensible default when there
is one. Never ask about a field listed as settled. When the user says to use the defaults or
to go ahead, apply your defaults and ask nothing more. Suggest up to three features worth
adding. Answer with one JSON object matching the given schema."""


@dataclass(frozen=True)
class Context:
    """What one turn needs, read from the conversation (no database objects)."""

    workspace_id: str
    conversation_id: str
    turn: int  # the number the assistant's turn will have
    specification: dict[str, Any]
    settled: dict[str, Any]
    history: list[Message]  # earlier turns, oldest first
    open_questions: list[dict[str, Any]]  # the last assistant turn's questions
    content: str
    answers: dict[str, Any] = field(default_factory=dict)
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    # What the workspace's route reaches (read with the conversation): why the heuristics
    # answer, when they do, and what to change.
    route: model_route.ModelRoute = model_route.UNCONFIGURED


# What a heuristics turn adds when the user described a bot that no template does: the
# specification is kept (a model can generate it later), no question is asked (no answer
# would let the heuristics write it), and generating stops saying the same.
NO_TEMPLATE = (" This bot fits none of the built-in templates (GET /api/v1/templates), and "
               "the heuristics write bots from templates only: generating it needs a language "
               "model. {fix}, then generate again.")


@dataclass(frozen=True)
class Reply:
    """The assistant's turn: what it says, the specification after it, its questions."""

    message: str
    specification: dict[str, Any]
    questions: list[dict[str, Any]]
    suggestions: list[str]
    settled: dict[str, Any]
    source: Literal["model", "heuristics"]
    user_text: str  # the user's turn as the model read it (content and answers)

    @property
    def state(self) -> str:
        return "gathering" if self.questions else "ready"


def respond(context: Context) -> Reply:
    """The assistant's turn for the user's ``content`` and ``answers`` (call with no
    transaction open: it calls the gateway)."""
    settled = dict(context.settled)
    by_id = {q["id"]: q for q in context.open_questions}
    unknown = sorted(set(context.answers) - set(by_id))
    if unknown:
        raise Invalid(f"no open question has the id {unknown[0]!r}",
                      errors={"json": {"answers": {key: ["unknown question id"]
                                                   for key in unknown}}})
    for key, value in context.answers.items():
        settle(settled, by_id[key]["field"], value)
    use_defaults = bool(_DEFAULTS.search(context.content))
    if use_defaults:
        for question in context.open_questions:
            if question.get("default") is not None and question["id"] not in context.answers:
                settle(settled, question["field"], question["default"])
    user_text = _user_text(context.content, context.answers, by_id)
    messages = (Message("system", _system(context, settled)), *context.history,
                Message("user", user_text))
    answer, source = _ask(context, messages)
    message: str
    if source == "heuristics":
        draft = answer
        spec = heuristics.specification(draft, context.specification,
                                        task=_task_answer(context, by_id))
        # The heuristics read the user's words only: what the specification held before this
        # turn (a refined bot's template, an earlier turn's schedule) is not asked again.
        asked = [q for q in heuristics.questions(draft)
                 if not _holds(context.specification, q["field"])]
        suggestions = heuristics.suggestions(spec)
        why, fix = context.route.why_heuristics()
        message = ("Built-in heuristics drafted this specification from keyword rules "
                   f"({why}); check it.")
        if not spec.get("template") and not asked:
            message += NO_TEMPLATE.format(fix=fix)
        elif why != model_route.NONE_CONFIGURED:
            message += f" {fix} to have a language model write your bots."
    else:
        spec, asked = answer["specification"], answer["questions"]
        suggestions, message = answer["suggestions"], answer["message"]
    spec = _with_settled(spec, settled)
    if use_defaults:
        for question in asked:
            if question.get("default") is not None:
                settle(settled, question["field"], question["default"])
        spec = _with_settled(spec, settled)
    open_questions = [q for q in asked if q["field"] not in settled
                      and not (use_defaults and q.get("default") is not None)]
    if not spec.get("purpose") and not any(q["field"] == "purpose" for q in open_questions):
        open_questions.insert(0, {"field": "purpose", "question": "What should the bot do?",
                                  "why": "Nothing can be generated before its task is known.",
                                  "options": [], "default": None})
    numbered = [{"id": f"t{context.turn}q{index}", "options": [], "default": None, **q}
                for index, q in enumerate(open_questions[:MAX_QUESTIONS], 1)]
    return Reply(message=message, specification=spec, questions=numbered,
                 suggestions=[str(s) for s in suggestions][:5], settled=settled, source=source,
                 user_text=user_text)


def _task_answer(context: Context, by_id: dict[str, Any]) -> str:
    """The user's words answering "what should the bot do?" when that was asked ("" if not):
    the answer to that question by id, and the message."""
    if not any(q.get("field") == "template" for q in context.open_questions):
        return ""
    answered = [str(value) for key, value in context.answers.items()
                if by_id[key]["field"] == "template"]
    return " ".join([*answered, context.content]).strip()


def settle(settled: dict[str, Any], field_path: str, value: Any) -> None:
    """Record the user's value for a field, in the field's own type when it has one."""
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            value = int(text)
        elif text.lower() in ("true", "yes", "false", "no"):
            value = text.lower() in ("true", "yes")
        else:
            value = text
    if field_path == "trigger.cron" and not (isinstance(value, str)
                                             and croniter.is_valid(value)):
        return  # said in words ("daily at 9"): the model or the heuristics read it
    if field_path == "template":
        return  # a task in words, not a template id: the model or the heuristics read it
    settled[field_path] = value


def _with_settled(spec: dict[str, Any], settled: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with each settled value set; a value the schema refuses is left out."""
    found = copy.deepcopy(spec)
    for path, value in settled.items():
        candidate = copy.deepcopy(found)
        _set(candidate, path, value)
        if not specs.errors(candidate):
            found = candidate
    return found


def _holds(spec: dict[str, Any], path: str) -> bool:
    """Whether ``spec`` already says what a question on ``path`` would ask."""
    if path == "outputs":  # an e-mail output without an address still needs one
        outputs = spec.get("outputs") or []
        return bool(outputs) and all(o.get("target") or o.get("kind") in ("return", "log")
                                     for o in outputs)
    node: Any = spec
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return bool(node)


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    if path == "outputs":
        spec["outputs"] = [value] if isinstance(value, dict) else (
            value if isinstance(value, list) else [heuristics.output_from_answer(str(value))])
        return
    if path == "secrets":
        names = value if isinstance(value, list) else [str(value)]
        spec["secrets"] = sorted(set(spec.get("secrets") or []) | set(names))
        return
    *parents, last = path.split(".")
    node = spec
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {"type": "schedule"} if part == "trigger" else {}
            node[part] = child
        node = child
    node[last] = value
    if path == "trigger.cron":
        spec["trigger"]["type"] = "schedule"


def _user_text(content: str, answers: dict[str, Any], by_id: dict[str, Any]) -> str:
    """The user's turn as the model reads it: the answers spelled out, then the words."""
    lines = [f"{by_id[key]['question']} -> {value}" for key, value in answers.items()]
    return "\n".join([*lines, content] if content else lines) or "(no message)"


def _system(context: Context, settled: dict[str, Any]) -> str:
    return (f"{SYSTEM_PROMPT}\n\nThe specification so far:\n"
            f"{json.dumps(context.specification, ensure_ascii=False)}\n\n"
            f"Settled by the user (keep as is, never ask again): "
            f"{json.dumps(settled, ensure_ascii=False)}")


Source = Literal["model", "heuristics"]


def _ask(context: Context, messages: tuple[Message, ...]) -> tuple[dict[str, Any], Source]:
    """The turn as the route answered it, validated, repaired once: (answer, source)."""
    caller = gateway.Caller(user_id=context.user_id, api_key_id=context.api_key_id,
                            conversation_id=context.conversation_id)
    request = ChatRequest(messages=messages, temperature=0, max_tokens=MAX_TOKENS,
                          json_mode=True, timeout=DEADLINE_SECONDS,
                          response_schema={"name": "builder_turn", "schema": TURN_SCHEMA,
                                           "description": "The builder's next turn."})
    result = gateway.chat(context.workspace_id, request, purpose="builder", caller=caller,
                          deadline_seconds=DEADLINE_SECONDS)
    if not _is_language_model(result.provider):
        return _heuristics_draft(result.text), "heuristics"
    answer, problems = _checked(result.text)
    if not problems:
        return answer, "model"
    repair = ChatRequest(
        messages=(*messages, Message("assistant", result.text[:20_000]),
                  Message("user", "Your answer was invalid:\n- " + "\n- ".join(problems[:20])
                          + "\nAnswer again with the whole JSON object, valid against the "
                            "schema.")),
        temperature=0, max_tokens=MAX_TOKENS, json_mode=True, timeout=DEADLINE_SECONDS,
        response_schema=request.response_schema)
    # Not cached: the first answer, invalid, may be (temperature 0); a repair must not be.
    result = gateway.chat(context.workspace_id, repair, purpose="builder", caller=caller,
                          cache=False, deadline_seconds=DEADLINE_SECONDS)
    answer, problems = _checked(result.text)
    if problems:
        raise BadGateway(f"{result.provider} answered an invalid specification twice; "
                         "nothing was changed", errors={"specification": problems[:20]})
    return answer, "model"


def _checked(text: str) -> tuple[dict[str, Any], list[str]]:
    """The model's answer and every way it breaks the turn's schema (empty when valid)."""
    try:
        answer = answers.loads(text)
    except json.JSONDecodeError as exc:
        return {}, [f"(root): not JSON ({exc.msg} at character {exc.pos})"]
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in _ENVELOPE.iter_errors(answer)]
    if isinstance(answer, dict) and "specification" in answer:
        problems += [f"specification/{p}" for p in specs.errors(answer["specification"])]
    return (answer if isinstance(answer, dict) else {}), problems


def _heuristics_draft(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise BadGateway("the built-in heuristics answered no specification")
    return found


def _is_language_model(provider: str) -> bool:
    """Whether the provider that answered is a model (the built-in heuristics are not)."""
    registration = runtime.current().plugins.get("llm", provider)
    return registration is None or bool(getattr(registration.cls, "is_language_model", True))
