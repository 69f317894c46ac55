"""Pagination of list queries: by page number (API v1) or by position (keyset, API v2).

A list is built once per filter shape (:func:`paged`, with its filter values as bind
parameters) and run on the session's driver connection (:mod:`codex32.db.driver`): the items
are plain dicts of the selected columns. Building, caching-key, ORM and result handling of a
fresh statement cost more than the SQL of a 50-row page.

The same :class:`ListQuery` serves both ways of paging, so a list's filters and order are
written once: :class:`PageRequest` (a page number, with the total) gives a :class:`Page`;
:class:`KeysetRequest` (the sort key of the last item seen) gives a :class:`Slice`, whose next
position stays right when rows are inserted or deleted meanwhile (docs/api.md, "Pagination").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from codex32.db import driver
from codex32.errors import Malformed

LIMIT, OFFSET = "page_limit", "page_offset"


@dataclass(frozen=True)
class PageRequest:
    """Which page to return; sizes are bounded by the API schema."""

    page: int = 1
    page_size: int = 20

    @property
    def bounds(self) -> dict[str, int]:
        """The page's LIMIT and OFFSET parameters of a :func:`paged` statement."""
        return {LIMIT: self.page_size, OFFSET: (self.page - 1) * self.page_size}


@dataclass(frozen=True)
class Page:
    """One page of items and the total count across pages."""

    items: list[Any]
    page: int
    page_size: int
    total: int


@dataclass(frozen=True)
class KeysetRequest:
    """The items after ``after`` (the sort key of the last item seen; None: from the start)."""

    after: tuple[Any, ...] | None = None
    size: int = 20


@dataclass(frozen=True)
class Slice:
    """Items in list order, and the sort key to continue after (None: this is the end)."""

    items: list[Any]
    next_key: tuple[Any, ...] | None


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order: its name in the rows, its Python type, its direction."""

    name: str
    type: type
    descending: bool


@dataclass(frozen=True)
class ListQuery:
    """A page statement (the columns, the total, the bounds), its total alone, and the keyset
    statements: the first slice and the slice after a position."""

    page: Select
    count: Select
    first: Select
    after: Select
    key: tuple[SortKey, ...]


def paged(columns: Iterable[Any], filters: list[ColumnElement[bool]],
          order_by: Iterable[Any]) -> ListQuery:
    """The statements of a list: ``columns`` where ``filters``, ordered, one page at a time.

    The total rides along as an uncorrelated subquery, computed once, so the page stays an
    index scan that stops at the page size (a ``count(*) OVER ()`` window would read and sort
    every matching row for every page) and the whole page costs one round trip.
    """
    columns, order_by = list(columns), list(order_by)
    count = select(func.count()).select_from(columns[0].table).where(*filters)
    page = (select(*columns, count.scalar_subquery().label("total")).where(*filters)
            .order_by(*order_by).limit(bindparam(LIMIT)).offset(bindparam(OFFSET)))
    sorted_by = [_sort_column(clause) for clause in order_by]
    key = tuple(SortKey(column.key, column.type.python_type, descending)
                for column, descending in sorted_by)
    first = select(*columns).where(*filters).order_by(*order_by).limit(bindparam(LIMIT))
    return ListQuery(page=page, count=count, first=first,
                     after=first.where(_after(sorted_by)), key=key)


def _sort_column(clause: Any) -> tuple[Any, bool]:
    if isinstance(clause, UnaryExpression) and clause.modifier in (operators.desc_op,
                                                                   operators.asc_op):
        return clause.element, clause.modifier is operators.desc_op
    return getattr(clause, "expression", clause), False


def after(sorted_by: list[tuple[Any, bool]], position: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``position`` (one value per sort key) in the order ``sorted_by``
    (``(column, descending)`` pairs), with the values bound: for a query built per call."""
    return _after(sorted_by, position)


def _after(sorted_by: list[tuple[Any, bool]],
           position: Sequence[Any] | None = None) -> ColumnElement[bool]:
    """Rows strictly after the position ``key_0, key_1, …`` in the list's order (mixed
    directions, so no row-value comparison): ``c0 ≺ k0 OR (c0 = k0 AND c1 ≺ k1) OR …``.
    With ``position`` the keys carry its values; without, the caller binds them."""
    def key(i: int) -> Any:
        return bindparam(f"key_{i}") if position is None else bindparam(f"key_{i}",
                                                                         position[i])
    terms = []
    for index, (column, descending) in enumerate(sorted_by):
        equal = [sorted_by[i][0] == key(i) for i in range(index)]
        mark: Any = key(index)
        terms.append(and_(*equal, column < mark if descending else column > mark))
    return or_(*terms)


@overload
def fetch(session: Session, page: PageRequest, query: ListQuery,
          params: dict[str, Any] | None = None) -> Page: ...


@overload
def fetch(session: Session, page: KeysetRequest, query: ListQuery,
          params: dict[str, Any] | None = None) -> Slice: ...


def fetch(session: Session, page: PageRequest | KeysetRequest, query: ListQuery,
          params: dict[str, Any] | None = None) -> Page | Slice:
    """One page of ``query`` with the filter values ``params``: items as dicts, and the total
    (or, for a :class:`KeysetRequest`, the key to continue after).

    Only a page past the end pays a second query for its total.
    """
    params = params or {}
    if isinstance(page, KeysetRequest):
        return _fetch_slice(session, page, query, params)
    keys, rows = driver.execute(session, query.page, {**params, **page.bounds})
    keys = keys[:-1]
    total = rows[-1][-1] if rows else None
    if total is None:
        total = 0 if page.page == 1 else driver.execute(session, query.count, params)[1][0][0]
    return Page(items=[dict(zip(keys, row, strict=False)) for row in rows], page=page.page,
                page_size=page.page_size, total=total)


def _fetch_slice(session: Session, request: KeysetRequest, query: ListQuery,
                 params: dict[str, Any]) -> Slice:
    """One more row than asked for tells whether the list goes on."""
    bounds: dict[str, Any] = {LIMIT: request.size + 1}
    if request.after is not None:
        bounds.update({f"key_{index}": value
                       for index, value in enumerate(typed_key(query, request.after))})
    keys, rows = driver.execute(session, query.first if request.after is None else query.after,
                                {**params, **bounds})
    items = [dict(zip(keys, row, strict=False)) for row in rows[:request.size]]
    more = len(rows) > request.size
    return Slice(items=items, next_key=key_of(query, items[-1]) if more else None)


def key_of(query: ListQuery, item: dict[str, Any]) -> tuple[Any, ...]:
    """The sort key of one listed item."""
    return tuple(item[part.name] for part in query.key)


def typed_key(query: ListQuery, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values`` (as a cursor carried them: text or numbers) as the sort columns' types;
    400 when they do not fit the list's key."""
    if len(values) != len(query.key):
        raise Malformed("the cursor does not belong to this list")
    try:
        return tuple(_as(part.type, value) for part, value in zip(query.key, values,
                                                                  strict=True))
    except (TypeError, ValueError) as exc:
        raise Malformed("the cursor does not belong to this list") from exc


def _as(kind: type, value: Any) -> Any:
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and kind is not int:
        if kind is datetime:
            return datetime.fromisoformat(value)
        return kind(value)
    raise TypeError(f"{value!r} is not a {kind.__name__}")
