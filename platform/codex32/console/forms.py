"""A console form answered again: when a form is invalid (a 422), its page is drawn once more
with what the member typed and each error beside its field, instead of the error page.

:func:`refill` wraps a form's view; the page it draws gets a :class:`Refill` (the submitted
values and the errors by field path), and ``console/_fields.html`` marks a field invalid and
writes its error. Nothing of the failed attempt is kept (the transaction is rolled back), and
a secret a member typed is never drawn again: templates leave secret fields empty.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import request

from codex32.api import transaction
from codex32.errors import Invalid

F = TypeVar("F", bound=Callable[..., Any])
STATUS = 422


@dataclass(frozen=True)
class Refill:
    """A form sent again: its message, the values sent, the errors by dotted field path."""

    message: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.message or self.errors)

    @classmethod
    def of(cls, error: Invalid, values: Mapping[str, Any]) -> Refill:
        """The refill of ``error`` (its field errors under ``form`` or ``json``)."""
        found = error.errors if isinstance(error.errors, dict) else {}
        tree = found.get("form") or found.get("json") or found
        return cls(message=error.message, values=values, errors=dict(_flat(tree, "")))

    def error(self, name: str) -> str:
        """The errors of field ``name`` and of its parts (``config`` has ``config.timeout``)."""
        said = [f"{path[len(name) + 1:]}: {text}" if path != name else text
                for path, text in self.errors.items()
                if path == name or path.startswith(f"{name}.")]
        return "; ".join(said)

    def value(self, name: str, default: str = "") -> str:
        """What the member sent in field ``name`` (``default`` when nothing)."""
        found = self.values.get(name)
        return str(found) if found is not None else default


NOTHING = Refill()


def _flat(tree: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _flat(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list) and all(isinstance(item, str) for item in tree):
        yield prefix, "; ".join(tree)
    elif isinstance(tree, list):
        for index, item in enumerate(tree):
            yield from _flat(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, str(tree)


def refill(page: Callable[..., Any]) -> Callable[[F], F]:
    """On an :class:`Invalid` from the view, roll its work back and answer ``page(*args,
    refill=Refill, **kwargs)`` with status 422 (``page`` draws the form's page)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def answered(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except Invalid as error:
                transaction.discard()
                drawn = page(*args, refill=Refill.of(error, request.form), **kwargs)
                return (drawn[0] if isinstance(drawn, tuple) else drawn), STATUS

        return answered  # type: ignore[return-value]

    return decorate
