"""Tool calling on the OpenAI-compatible endpoint: the request's ``tools``, ``tool_choice``
and ``parallel_tool_calls`` and the conversation's tool calls and results read into the
gateway's :class:`~codex32.plugins.interfaces.ChatRequest` (each checked as OpenAI checks
it: a 400 naming the parameter, before anything is reserved or sent), and the model's calls
written back in OpenAI's shape, whole or as a stream's deltas. The platform's own chat
(:mod:`codex32.api.v1.llm`) shares the checks (``checked_*``): one request model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from codex32.api.schemas import JsonBoolean
from codex32.errors import Invalid
from codex32.plugins.interfaces import (
    TOOL_CHOICES,
    Message,
    Tool,
    ToolCall,
    ToolCallDelta,
)

MAX_TOOLS = 128  # OpenAI's limit
NAME = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="letters, digits, _ and - only, "
                                                        "at most 64 of them")


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


MAX_TEXT = 200_000  # a call's arguments, a tool's schema as JSON (as POST /llm/chat bounds)


def _json_within(limit: int) -> Callable[[Any], None]:
    """A validator: the value, as JSON, is at most ``limit`` characters."""
    def check(value: Any) -> None:
        try:
            size = len(json.dumps(value))
        except (TypeError, ValueError, RecursionError):
            raise ValidationError("must be JSON") from None
        if size > limit:
            raise ValidationError(f"must be at most {limit} characters as JSON")
    return check


class FunctionSchema(_Lenient):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", allow_none=True,
                                validate=validate.Length(max=8192))
    parameters = fields.Raw(load_default=None, validate=_json_within(MAX_TEXT), metadata={
        "description": "the JSON Schema of the arguments (an object)"})
    strict = JsonBoolean(load_default=False, allow_none=True)


class ToolSchema(_Lenient):
    """A function tool (OpenAI's other kinds, such as ``custom``, are refused)."""

    type = fields.String(required=True, validate=validate.Equal(
        "function", error="only function tools are supported"))
    function = fields.Nested(FunctionSchema, required=True)


class CalledFunctionSchema(_Lenient):
    name = fields.String(required=True, validate=NAME)
    arguments = fields.String(required=True, validate=validate.Length(max=MAX_TEXT), metadata={
        "description": "the JSON text of an object"})


class ToolCallSchema(_Lenient):
    id = fields.String(required=True, validate=validate.Length(min=1, max=256))
    type = fields.String(load_default="function", validate=validate.Equal("function"))
    function = fields.Nested(CalledFunctionSchema, required=True)


def invalid(path: list[str | int], why: str) -> Invalid:
    """The 422 for the body's field at ``path`` (``messages.0.content: why``)."""
    errors: Any = [why]
    for key in reversed(path):
        errors = {key: errors}
    return Invalid(f"{'.'.join(map(str, path))}: {why}", errors={"json": errors})


def checked_parameters(parameters: Any, path: list[str | int]) -> dict[str, Any]:
    """A tool's parameters: a JSON Schema of an object (None: one without properties)."""
    if parameters is None:
        return {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise invalid(path, "must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        raise invalid(path, f"is not a valid JSON Schema ({exc.message})") from None
    if parameters.get("type", "object") != "object":
        raise invalid(path, "must describe an object (type: object)")
    return parameters


def checked_names(tools: tuple[Tool, ...]) -> None:
    """No two tools of one name."""
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise invalid(["tools"], "two tools have the same name")


def checked_choice(name: str | None, tools: tuple[Tool, ...]) -> str | None:
    """A tool choice (a mode of ``TOOL_CHOICES`` or a tool's name) the tools allow:
    ``required`` or a name needs tools, a name one of theirs; ``auto`` or ``none`` without
    tools is no choice (None)."""
    if name is None or (name in ("auto", "none") and not tools):
        return None
    if name == "required" and not tools:
        raise invalid(["tool_choice"], "'required' needs tools")
    if name not in TOOL_CHOICES and name not in {tool.name for tool in tools}:
        raise invalid(["tool_choice"], f"names {name!r}, which is none of the tools")
    return name


def checked_arguments(arguments: str, path: list[str | int]) -> str:
    """A call's arguments: the JSON text of an object (what every provider takes)."""
    try:
        parsed = json.loads(arguments or "{}")
    except (ValueError, RecursionError):  # nested deeper than the reader recurses
        parsed = None
    if not isinstance(parsed, dict):
        raise invalid(path, "must be the JSON text of an object")
    return arguments or "{}"


def tools_of(data: dict[str, Any]) -> tuple[tuple[Tool, ...], str | None, bool | None]:
    """An OpenAI request's tools, its tool choice (a mode or the name of a tool) and
    ``parallel_tool_calls``, checked (:func:`checked_parameters`, :func:`checked_names`,
    :func:`checked_choice`)."""
    tools = tuple(Tool(name=found["function"]["name"],
                       description=found["function"]["description"] or "",
                       parameters=checked_parameters(found["function"]["parameters"], [
                           "tools", index, "function", "parameters"]),
                       strict=bool(found["function"]["strict"]))
                  for index, found in enumerate(data.get("tools") or []))
    checked_names(tools)
    return tools, checked_choice(_named(data.get("tool_choice")), tools), data.get(
        "parallel_tool_calls") if tools else None


def _named(value: Any) -> str | None:
    """OpenAI's ``tool_choice`` as a mode or a tool's name."""
    if value is None or (isinstance(value, str) and value in TOOL_CHOICES):
        return value
    named = value.get("function") if isinstance(value, dict) and value.get(
        "type") == "function" else None
    name = named.get("name") if isinstance(named, dict) else None
    if not isinstance(name, str) or name in TOOL_CHOICES:
        raise invalid(["tool_choice"], "must be none, auto, required or "
                                        '{"type": "function", "function": {"name": ...}}')
    return name


def calls_of(found: list[dict[str, Any]] | None, index: int) -> tuple[ToolCall, ...]:
    """An OpenAI assistant message's tool calls (:func:`checked_arguments`)."""
    return tuple(ToolCall(id=call["id"], name=call["function"]["name"],
                          arguments=checked_arguments(call["function"]["arguments"], [
                              "messages", index, "tool_calls", at, "function",
                              "arguments"]))
                 for at, call in enumerate(found or []))


def checked_conversation(messages: tuple[Message, ...]) -> None:
    """Every ``tool`` message answers a call of the assistant message before it (that one,
    or a ``tool`` message answering it, comes right before), by ``tool_call_id``."""
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        if message.role == "tool":
            if not message.tool_call_id:
                raise invalid(["messages", index, "tool_call_id"],
                               "a tool message needs the tool_call_id it answers")
            if message.tool_call_id not in open_calls:
                raise invalid(["messages", index, "tool_call_id"],
                               f"{message.tool_call_id!r} answers no tool call of the "
                               "assistant message before it")
            open_calls.discard(message.tool_call_id)
        else:
            open_calls = {call.id for call in message.tool_calls}


def calls_json(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    """Tool calls as OpenAI's ``message.tool_calls``."""
    return [{"id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}} for call in calls]


def deltas_json(deltas: tuple[ToolCallDelta, ...]) -> list[dict[str, Any]]:
    """Pieces of tool calls as OpenAI's ``delta.tool_calls``: a call's first piece with its
    id, type and name, every one with its index and argument fragment."""
    found = []
    for delta in deltas:
        piece: dict[str, Any] = {"index": delta.index}
        if delta.id is not None:
            piece.update(id=delta.id, type="function")
        function: dict[str, str] = {"arguments": delta.arguments}
        if delta.name is not None:
            function["name"] = delta.name
        piece["function"] = function
        found.append(piece)
    return found
