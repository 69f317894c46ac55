"""Cursor connections: ``first`` and ``after`` in, ``nodes``, ``edges`` and ``pageInfo`` out.

A cursor is opaque to clients: base64 of the row's position in the list's order (its time and
id, or a version's number). A cursor this API did not give is a 422 error, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry

from codex32.errors import Invalid
from codex32.services.connections import Position
from codex32.services.pages import Slice

T = TypeVar("T")
DEFAULT_FIRST = 20
MAX_VERSION_NUMBER = 2**31 - 1  # a version's number is a Postgres integer


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    """One page of a list, newest first."""

    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo


def size(first: int | None, maximum: int) -> int:
    """The page size asked for: 1 up to ``maximum`` (the API's page size limit)."""
    if first is None:
        return min(DEFAULT_FIRST, maximum)
    if not 1 <= first <= maximum:
        raise Invalid(f"first must be between 1 and {maximum}",
                      errors={"arguments": {"first": [f"between 1 and {maximum}"]}})
    return first


def _encode(value: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode(cursor: str) -> list[Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _bad_cursor() from exc
    if not isinstance(value, list):
        raise _bad_cursor()
    return value


def _bad_cursor() -> Invalid:
    return Invalid("the cursor is not one this API gave",
                   errors={"arguments": {"after": ["not a cursor from this API"]}})


def position_cursor(row: dict[str, Any], stamp: str) -> str:
    """The cursor of a row listed by (``stamp`` descending, id)."""
    return _encode([row[stamp].isoformat(), str(row["id"])])


def position(cursor: str | None) -> Position | None:
    """The (time, id) position a cursor names; None for none."""
    if cursor is None:
        return None
    value = _decode(cursor)
    try:
        stamp, ident = value
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (TypeError, ValueError) as exc:
        raise _bad_cursor() from exc


def number_cursor(number: int) -> str:
    """The cursor of a version (listed by number, descending)."""
    return _encode([number])


def number(cursor: str | None) -> int | None:
    """The version number a cursor names; None for none."""
    if cursor is None:
        return None
    value = _decode(cursor)
    if (len(value) != 1 or not isinstance(value[0], int) or isinstance(value[0], bool)
            or not 1 <= value[0] <= MAX_VERSION_NUMBER):
        raise _bad_cursor()
    return value[0]


def connection(found: Slice, node: Callable[[dict[str, Any]], T],
               cursor: Callable[[dict[str, Any]], str]) -> Connection[T]:
    """The connection of a slice: each row made a node, with its cursor."""
    edges = [Edge(cursor=cursor(row), node=node(row)) for row in found.items]
    return Connection(edges=edges, nodes=[edge.node for edge in edges],
                      page_info=PageInfo(has_next_page=found.next_key is not None,
                                         end_cursor=edges[-1].cursor if edges else None))
