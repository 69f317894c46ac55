"""The checks every vector store applies to what the core hands it: the workspace id, the
collection name, item ids and vectors. Plain Python (no numpy: it is no core dependency).

A store calls these first, so a bad value is a ``ValueError`` naming the rule before anything
reaches its backend. Plugins import them from :mod:`codex32.plugins.api`.
"""

from __future__ import annotations

import math
import re
import uuid
from numbers import Real

FLOAT32_MAX = 3.4028234663852886e38  # a larger magnitude is infinite once stored as float32
MAX_ITEM_ID_BYTES = 256
_COLLECTION = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def checked_workspace(workspace_id: object) -> str:
    """The canonical form of a workspace id; anything but a UUID is refused."""
    try:
        return str(uuid.UUID(str(workspace_id)))
    except ValueError:
        raise ValueError("workspace_id must be a UUID") from None


def checked_collection(collection: object) -> str:
    """A collection name: 1 to 64 letters, digits or ``_``."""
    if not isinstance(collection, str) or not _COLLECTION.fullmatch(collection):
        raise ValueError("collection names use 1 to 64 letters, digits or _")
    return collection


def checked_item_id(item_id: object, max_bytes: int = MAX_ITEM_ID_BYTES) -> str:
    """An item id: a non-empty string of at most ``max_bytes`` UTF-8 bytes, without NUL."""
    if not isinstance(item_id, str) or not item_id:
        raise ValueError("item ids are non-empty strings")
    if len(item_id.encode()) > max_bytes or "\x00" in item_id:
        raise ValueError(f"item ids are at most {max_bytes} bytes, without NUL")
    return item_id


def checked_vector(values: object, max_dimension: int, *, nonzero: bool = False
                   ) -> list[float]:
    """``values`` as a list of floats: 1 to ``max_dimension`` finite numbers within float32
    (what the stores keep); with ``nonzero``, not all zero (cosine needs a direction)."""
    try:
        count = len(values)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError("vectors are sequences of numbers") from None
    if not 1 <= count <= max_dimension:
        raise ValueError(f"vectors have 1 to {max_dimension} values")
    vector: list[float] = []
    for value in values:  # type: ignore[attr-defined]
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValueError("vectors hold numbers only")
        number = float(value)
        if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
            raise ValueError("vectors hold finite numbers only (within float32)")
        vector.append(number)
    if nonzero and not any(vector):
        raise ValueError("a zero vector has no direction: cosine similarity is undefined")
    return vector
