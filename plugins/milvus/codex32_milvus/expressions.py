"""Milvus boolean expressions the store sends, built from checked arguments only.

Every value becomes a typed literal (strings double-quoted with Milvus's escapes; other control
characters refused), every metadata key is checked against a pattern: caller text never
becomes expression syntax. No client, no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

_INT64 = 2**63
_FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
# Milvus's expression lexer knows only these escapes; other control characters are refused.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def scope(workspace: str, collection: str) -> str:
    """The condition every statement starts with, from checked arguments only."""
    return (f"workspace_id == {string_literal(workspace)} and "
            f"collection == {string_literal(collection)}")


def string_literal(value: str) -> str:
    """A double-quoted Milvus expression literal holding exactly ``value``."""
    if any((ord(c) < 0x20 and c not in _ESCAPES) or ord(c) == 0x7F for c in value):
        raise ValueError("filter values may not contain control characters")
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def metadata_equals(key: str, value: Any) -> str:
    """``metadata["key"] == value`` with the key checked and the value as a typed literal."""
    if not isinstance(key, str) or not _FILTER_KEY.fullmatch(key):
        raise ValueError("filter keys use letters, digits, _ . : - (at most 64)")
    if isinstance(value, bool):
        literal = "true" if value else "false"
    elif isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError("integer filter values must fit in 64 bits")
        literal = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("float filter values must be finite")
        literal = repr(value)
    elif isinstance(value, str):
        literal = string_literal(value)
    else:
        raise ValueError("filter values are strings, numbers or booleans")
    return f"metadata[{string_literal(key)}] == {literal}"
