"""Pagination of list queries: the request (page, size), the page returned, and fetching it.

A list is built once per filter shape (:func:`paged`, with its filter values as bind
parameters) and run on the session's driver connection (:mod:`codex32.db.driver`): the items
are plain dicts of the selected columns. Building, caching-key, ORM and result handling of a
fresh statement cost more than the SQL of a 50-row page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import Session

from codex32.db import driver

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
class ListQuery:
    """A page statement (the columns, the total, the bounds) and its total alone."""

    page: Select
    count: Select


def paged(columns: Iterable[Any], filters: list[ColumnElement[bool]],
          order_by: Iterable[Any]) -> ListQuery:
    """The statements of a list: ``columns`` where ``filters``, ordered, one page at a time.

    The total rides along as an uncorrelated subquery, computed once, so the page stays an
    index scan that stops at the page size (a ``count(*) OVER ()`` window would read and sort
    every matching row for every page) and the whole page costs one round trip.
    """
    columns = list(columns)
    count = select(func.count()).select_from(columns[0].table).where(*filters)
    page = (select(*columns, count.scalar_subquery().label("total")).where(*filters)
            .order_by(*order_by).limit(bindparam(LIMIT)).offset(bindparam(OFFSET)))
    return ListQuery(page=page, count=count)


def fetch(session: Session, page: PageRequest, query: ListQuery,
          params: dict[str, Any] | None = None) -> Page:
    """One page of ``query`` with the filter values ``params``: items as dicts, and the total.

    Only a page past the end pays a second query for its total.
    """
    params = params or {}
    keys, rows = driver.execute(session, query.page, {**params, **page.bounds})
    keys = keys[:-1]
    total = rows[-1][-1] if rows else None
    if total is None:
        total = 0 if page.page == 1 else driver.execute(session, query.count, params)[1][0][0]
    return Page(items=[dict(zip(keys, row, strict=False)) for row in rows], page=page.page,
                page_size=page.page_size, total=total)
