"""Batched loading for one GraphQL request: a parent's children are read for all its
siblings at once, so ``bots { versions { … } executions { … } }`` costs one statement per
field, whatever the number of bots.

GraphQL runs resolvers synchronously here (Flask, one thread per request), so the loaders are
synchronous too: a loader knows every key the request has produced so far (every bot a
resolver returned), and the first ``load`` that misses reads all of those at once. Later
siblings find their value cached. No SQL here: the reads are
:mod:`codex32.services.connections`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Siblings(Generic[K]):
    """The keys of one kind (bot ids, execution ids) the request has produced, in order."""

    def __init__(self) -> None:
        self._keys: dict[K, None] = {}

    def add(self, keys: Iterable[K]) -> None:
        for key in keys:
            self._keys.setdefault(key, None)

    def __iter__(self):
        return iter(list(self._keys))


class BatchLoader(Generic[K, V]):
    """Values by key, read in batches of every known sibling key not read yet."""

    def __init__(self, siblings: Siblings[K], read: Callable[[list[K]], dict[K, V]],
                 missing: Callable[[], V],
                 on_read: Callable[[dict[K, V]], None] | None = None) -> None:
        self._siblings = siblings
        self._read = read
        self._missing = missing
        self._on_read = on_read
        self._cache: dict[K, V] = {}

    def load(self, key: K) -> V:
        """The value for ``key``; a miss reads it with every sibling not read yet."""
        if key not in self._cache:
            batch = [k for k in self._siblings if k not in self._cache]
            if key not in batch:
                batch.append(key)
            found = self._read(batch)
            if self._on_read is not None:
                self._on_read(found)
            for k in batch:
                self._cache[k] = found[k] if k in found else self._missing()
        return self._cache[key]


class Loaders:
    """Every loader of one request, created on first use (one per argument set)."""

    def __init__(self) -> None:
        self.bots: Siblings = Siblings()
        self.executions: Siblings = Siblings()
        self.versions: Siblings = Siblings()
        self.execution_bots: Siblings = Siblings()  # the bots of the executions listed
        self._made: dict[Hashable, BatchLoader] = {}

    def get(self, name: Hashable, siblings: Siblings, read: Callable[[list], dict],
            missing: Callable[[], object] = lambda: None,
            on_read: Callable[[dict], None] | None = None) -> BatchLoader:
        """The loader called ``name`` (a tuple of the field and its arguments); ``on_read``
        sees each batch read (to make the children it holds siblings at once: resolvers run
        depth first, so the second bot's executions would otherwise be a batch of their own)."""
        if name not in self._made:
            self._made[name] = BatchLoader(siblings, read, missing, on_read)
        return self._made[name]
