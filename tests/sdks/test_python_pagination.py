"""The Python SDK's pager on its own (no server): it ends on a cursor the server repeats."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from codex32_client.errors import ServerError
from codex32_client.pagination import Paginator


@dataclass
class Answer:
    data: list[int]
    next_cursor: str | None


def test_a_cursor_the_server_repeats_ends_the_iteration_with_an_error():
    # A server (or a proxy's cache) answering the same page again made the pager loop forever,
    # yielding the same items without end.
    pages = {None: Answer([1, 2], "a"), "a": Answer([3], "b"), "b": Answer([4], "a")}
    fetched: list[str | None] = []

    def fetch(cursor: str | None) -> Answer:
        fetched.append(cursor)
        if len(fetched) > 10:
            raise AssertionError("the pager is looping")
        return pages[cursor]

    seen = []
    with pytest.raises(ServerError, match="repeated"):
        for item in Paginator(fetch):
            seen.append(item)

    assert seen == [1, 2, 3, 4] and fetched == [None, "a", "b"]


def test_a_list_ends_on_its_null_cursor():
    pages = {None: Answer([1], "a"), "a": Answer([2], None)}
    assert list(Paginator(pages.__getitem__)) == [1, 2]
