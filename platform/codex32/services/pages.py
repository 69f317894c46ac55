"""Pagination of list queries: the request (page, size) and the page returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select


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
