"""Pagination of list queries: the request (page, size), the page returned, and fetching it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PageRequest:
    """Which page to return; sizes are bounded by the API schema."""

    page: int = 1
    page_size: int = 20

    def apply(self, query: Select) -> Select:
        return query.limit(self.page_size).offset((self.page - 1) * self.page_size)


@dataclass(frozen=True)
class Page:
    """One page of items and the total count across pages."""

    items: list[Any]
    page: int
    page_size: int
    total: int

    @classmethod
    def from_rows(cls, request: PageRequest, items: list[Any], total: int) -> Page:
        return cls(items=items, page=request.page, page_size=request.page_size, total=total)


def fetch(session: Session, page: PageRequest, query: Select, count: Select, *,
          mappings: bool = False) -> Page:
    """One page of ``query`` (filtered and ordered) with the total ``count`` gives.

    The count rides along as an uncorrelated subquery, computed once, so the page stays an
    index scan that stops at ``page_size`` rows (a ``count(*) OVER ()`` window would read and
    sort every matching row for every page) and the whole page costs one round trip. Only a
    page past the end pays a second query for its total. ``query`` selects one entity, whose
    objects become the items, or columns (``mappings=True``), whose mappings do.
    """
    result = session.execute(page.apply(query.add_columns(count.scalar_subquery()
                                                          .label("total"))))
    if mappings:
        rows = result.mappings().all()
        items: list[Any] = list(rows)
        total = rows[0]["total"] if rows else None
    else:
        rows = result.all()
        items = [row[0] for row in rows]
        total = rows[0][-1] if rows else None
    if total is None:
        total = 0 if page.page == 1 else session.execute(count).scalar_one()
    return Page.from_rows(page, items, total)
