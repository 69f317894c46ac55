"""Function calling in Anthropic's terms: OpenAI-style tool calls and results as
``tool_use`` and ``tool_result`` blocks, the tool choice as Anthropic's, a stream's tool
events as pieces of calls."""

from __future__ import annotations

import json
from typing import Any

from codex32.plugins.api import Message, ToolCallDelta


def turn_of(message: Message) -> tuple[str, str | list[dict[str, Any]]]:
    """A message as a turn's role and content: a tool call a ``tool_use`` block of the
    assistant's turn, a tool's result a ``tool_result`` block of a user turn."""
    if message.role == "tool":
        return "user", [{"type": "tool_result", "tool_use_id": message.tool_call_id,
                         "content": message.content}]
    if not message.tool_calls:
        return message.role, message.content
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] \
        if message.content else []
    blocks += [{"type": "tool_use", "id": call.id, "name": call.name,
                "input": _arguments(call.arguments)} for call in message.tool_calls]
    return message.role, blocks


def joined_turns(first: str | list[dict[str, Any]], then: str | list[dict[str, Any]]
            ) -> str | list[dict[str, Any]]:
    """Two turns of one role as one: texts joined by a blank line, else the blocks of both
    (a user's text after tool results comes after them, as the API wants them first)."""
    if isinstance(first, str) and isinstance(then, str):
        return first + "\n\n" + then
    return [*_blocks(first), *_blocks(then)]


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def _arguments(text: str) -> Any:
    """A tool call's arguments as the object ``tool_use`` takes (the caller checked them)."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def tool_choice(choice: str | None) -> dict[str, Any]:
    """ChatRequest.tool_choice as Anthropic's: ``auto``, ``any`` (required), ``none`` or one
    ``tool`` by name."""
    if choice in (None, "auto", "none"):
        return {"type": choice or "auto"}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def piece_of(event: Any, calls: dict[int, int], fed: set[int]) -> ToolCallDelta | None:
    """The piece of a tool call a stream's event carries, if any: a ``tool_use`` block's
    start (its id and name) or a fragment of its input's JSON (``input_json_delta``)."""
    if event.type == "content_block_start" and event.content_block.type == "tool_use":
        calls[event.index] = len(calls)
        return ToolCallDelta(index=calls[event.index], id=event.content_block.id,
                             name=event.content_block.name)
    if event.type == "content_block_delta" and event.delta.type == "input_json_delta" \
            and event.index in calls and event.delta.partial_json:
        fed.add(calls[event.index])
        return ToolCallDelta(index=calls[event.index], arguments=event.delta.partial_json)
    return None
