"""A model's JSON answer, read strictly: what the database cannot store is a malformed answer.

``json.loads`` takes ``NaN`` and ``Infinity`` (jsonb refuses them), lone surrogates (no UTF-8
encoder takes them) and ``\\u0000`` (PostgreSQL text and jsonb cannot hold it); a turn or a
build holding one failed when it was stored (a 500, or a build stuck running). Here each is a
:class:`json.JSONDecodeError`, so the caller re-asks the model or says it answered badly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str) -> Any:
    """The JSON value of ``text``; ``json.JSONDecodeError`` when malformed or unstorable."""
    value = orjson.loads(text)  # orjson.JSONDecodeError is a json.JSONDecodeError
    if "\\u0000" in text and _holds_nul(value):
        raise json.JSONDecodeError("a string holds a NUL character (\\u0000)", text,
                                   text.find("\\u0000"))
    return value


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any("\x00" in key for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            return True
    return False
