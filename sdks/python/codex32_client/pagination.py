"""Paginating iterators over v2's keyset lists (``{data, next_cursor}``).

A ``Paginator`` fetches one page at a time, as it is iterated, sending each answer's
``next_cursor`` back until it is null; the list's filters go with every page (the server does
not keep them in the cursor).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from codex32_client.errors import ServerError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class ListAnswer(Protocol[T_co]):
    """What every generated v2 list model has."""

    @property
    def data(self) -> Sequence[T_co]: ...

    @property
    def next_cursor(self) -> str | None: ...


@dataclass(frozen=True)
class Page(Generic[T]):
    """One answer of a list: its items and the cursor of the next (None: the last page)."""

    items: list[T]
    next_cursor: str | None


class Paginator(Generic[T]):
    """Iterate for every item of the list (pages fetched lazily); ``pages()`` for the pages."""

    def __init__(self, fetch: Callable[[str | None], ListAnswer[T]]) -> None:
        self._fetch = fetch

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def pages(self, cursor: str | None = None) -> Iterator[Page[T]]:
        """The pages from ``cursor`` (the start when None) to the end. A next cursor the list
        gave already (a server, or a cache on the way, answering a page again) ends it with
        a ``ServerError``: following it would loop forever."""
        seen = {cursor}
        while True:
            answer = self._fetch(cursor)
            page = Page(list(answer.data), answer.next_cursor)
            yield page
            if not page.next_cursor:
                return
            if page.next_cursor in seen:
                raise ServerError("the server repeated a cursor of this list: its pages would "
                                  "never end")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    def first_page(self) -> Page[T]:
        """Only the first page (one request)."""
        return next(self.pages())


class AsyncPaginator(Generic[T]):
    """``Paginator`` for ``AsyncCodex32``: ``async for`` every item, ``pages()`` for the pages."""

    def __init__(self, fetch: Callable[[str | None], Awaitable[ListAnswer[T]]]) -> None:
        self._fetch = fetch

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def pages(self, cursor: str | None = None) -> AsyncGenerator[Page[T], None]:
        """The pages from ``cursor`` to the end; a repeated cursor ends it (``ServerError``)."""
        seen = {cursor}
        while True:
            answer = await self._fetch(cursor)
            page = Page(list(answer.data), answer.next_cursor)
            yield page
            if not page.next_cursor:
                return
            if page.next_cursor in seen:
                raise ServerError("the server repeated a cursor of this list: its pages would "
                                  "never end")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    async def first_page(self) -> Page[T]:
        """Only the first page (one request)."""
        pages = self.pages()
        try:
            return await anext(pages)
        finally:
            await pages.aclose()

    async def to_list(self) -> list[T]:
        """Every item, all pages read (mind the size of the list)."""
        return [item async for item in self]
