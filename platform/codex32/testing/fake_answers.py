"""What the local API fakes answer with: stable token counts, the text of a message, an
example value of a JSON Schema (the default structured answer), a text cut into stream pieces.
Shared by :mod:`codex32.testing.fake_openai`, :mod:`codex32.testing.fake_anthropic` and
:mod:`codex32.testing.scripted_model`."""

from __future__ import annotations

import math

from codex32.testing.fake_server import JSONValue


def approx_tokens(text: str) -> int:
    """A stable token count for ``text``: about four characters a token, as real tokenizers do."""
    return math.ceil(len(text) / 4) if text else 0


def text_of(content: JSONValue) -> str:
    """The text of a message ``content``: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def example_of(schema: JSONValue) -> JSONValue:
    """A small value matching a JSON Schema (the fakes' default structured answer): required
    properties only, the first of an ``enum``, the first type of a list of types."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: example_of(properties.get(name, {}))
                for name in schema.get("required") or []}
    if kind == "array":
        return [example_of(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * max(int(schema.get("minLength", 1)), 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return False if kind == "boolean" else None


def structured_schema(body: JSONValue) -> JSONValue:
    """The JSON Schema a chat request asks its answer to match (OpenAI's ``json_schema``
    response format, or Anthropic's forced tool), or None."""
    if not isinstance(body, dict):
        return None
    found = body.get("response_format") or {}
    if isinstance(found, dict) and found.get("type") == "json_schema":
        return (found.get("json_schema") or {}).get("schema") or {}
    choice = body.get("tool_choice") or {}
    if isinstance(choice, dict) and choice.get("type") == "tool":
        for tool in body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
                return tool.get("input_schema") or {}
    return None


def split_words(text: str, pieces: int = 3) -> list[str]:
    """``text`` cut at spaces into at most ``pieces`` parts whose concatenation is ``text``."""
    words = text.split(" ")
    size = max(1, math.ceil(len(words) / pieces))
    parts = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    # Re-attach the spaces the split removed so the deltas add up to the original text.
    return [part + " " for part in parts[:-1]] + parts[-1:] if parts else [""]


def cut_at_stop(text: str, stop: JSONValue) -> tuple[str, str | None]:
    """``text`` up to the first of the stop sequences ``stop`` (a string, a list of them or
    None) it contains, and that sequence (None when it contains none), as the APIs stop."""
    sequences = [stop] if isinstance(stop, str) else [s for s in stop or []
                                                      if isinstance(s, str) and s]
    found = [(text.find(s), s) for s in sequences if s and s in text]
    if not found:
        return text, None
    at, sequence = min(found)
    return text[:at], sequence


def calls_to_make(tools: list[tuple[str, JSONValue]], choice: str | None, asked: str,
                  parallel: bool = True) -> list[tuple[str, JSONValue]]:
    """The tool calls a fake answers with, deterministically, as ``(name, arguments)``: none
    without tools or with ``choice`` ``none``; the tool ``choice`` names; else the tools whose
    names the last user message (``asked``) mentions, in the order offered (the first tool
    when it mentions none), only the first unless ``parallel``. The arguments are the
    example of each tool's parameters' schema (:func:`example_of`)."""
    if not tools or choice == "none":
        return []
    named = [tool for tool in tools if tool[0] == choice] if choice not in (
        None, "auto", "required") else [tool for tool in tools if tool[0] in asked]
    chosen = named or tools[:1]
    return [(name, example_of(schema or {"type": "object"}))
            for name, schema in chosen[:None if parallel else 1]]
