"""The kinds of plugin, each declared once, by its base class; the rest derives from here.

A kind is declared where its base class is defined (:mod:`codex32.plugins.interfaces`)::

    class Reranker(Plugin, kind="reranker", default="simple"):
        ...

That one statement sets ``Reranker.kind`` and records a :class:`Kind`; from the record come
its registry hook (``register_rerankers``, a hookspec the manager adds), its slot in the
manager's registry, its place in the catalogue and in a workspace's ``defaults``, and its
platform default (which ``CODEX32_DEFAULT_PLUGINS`` may override). Read the kinds after
:mod:`codex32.plugins.interfaces` is imported (the public API module imports it).

Nothing here imports Flask, the database or a plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from codex32.plugins.hookspecs import hookspec

if TYPE_CHECKING:
    from codex32.plugins.interfaces import Plugin

P = TypeVar("P", bound="Plugin")


@dataclass(frozen=True)
class Kind(Generic[P]):
    """One kind of plugin: its name (``llm``), base class, registry hook and default id."""

    name: str
    base: type[P]
    hook: str
    default: str | None = None

    def hookspec(self) -> Callable[..., None]:
        """The registry hook's spec: called once at start-up with a ``register`` callback."""

        def spec(register: Callable[[type[P]], None]) -> None:
            """Called once at start-up: call ``register(cls)`` once per class you provide."""

        spec.__name__ = spec.__qualname__ = self.hook
        spec.__doc__ = (f"Called once at start-up. Call ``register(cls)`` for each "
                        f":class:`{self.base.__name__}` subclass you provide.")
        return hookspec(spec)


_declared: dict[str, Kind[Any]] = {}


def declare(kind: Kind[Any]) -> Kind[Any]:
    """Record a kind; a second kind with the same name or hook is a programming error."""
    for known in _declared.values():
        if known.base is not kind.base and (kind.name == known.name or kind.hook == known.hook):
            raise ValueError(f"kind {kind.name!r} ({kind.base.__name__}) clashes with kind "
                             f"{known.name!r} ({known.base.__name__})")
    _declared[kind.name] = kind
    return kind


def declared() -> tuple[Kind[Any], ...]:
    """Every declared kind, in the order of declaration (the catalogue's order)."""
    return tuple(_declared.values())


def names() -> tuple[str, ...]:
    """The names of the declared kinds."""
    return tuple(_declared)


def get(name: str) -> Kind[Any] | None:
    """The kind called ``name``, or None."""
    return _declared.get(name)


def registry_hookspecs() -> type:
    """A namespace holding one registry hookspec per declared kind (for ``add_hookspecs``)."""
    return type("RegistryHooks", (), {kind.hook: kind.hookspec() for kind in _declared.values()})
