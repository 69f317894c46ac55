"""Values PostgreSQL can store: ``text`` and ``jsonb`` hold neither NUL nor half a UTF-16
pair (a lone surrogate has no UTF-8 form), and what a bot, a generated test or a model writes
may hold both. :func:`storable` keeps such a record, with U+FFFD in their place."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` (JSON-ready) with NUL and lone surrogates as U+FFFD in every string and
    key (keys made strings)."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value
