"""What every resolver gets: the principal, the request's session (bound to its workspace by
the guard), the settings and the request's loaders; and the permission check of REST's
``@requires``, made per field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from strawberry.types import Info

from codex32.api.graphql.loaders import Loaders
from codex32.auth.guard import limit_rate
from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.config import Settings
from codex32.errors import Forbidden, TooLarge

T = TypeVar("T")


@dataclass
class Context:
    """One GraphQL request's principal, session, settings and loaders."""

    principal: Principal
    session: Session
    settings: Settings
    loaders: Loaders = field(default_factory=Loaders)
    costly_fields: int = 0  # mutations and searches run so far (see count)
    answer_chars: int = 0  # the large scalars answered so far (see spend)

    def require(self, permission: Permission) -> Principal:
        """The principal, if its role grants ``permission`` (REST's ``@requires``); else 403."""
        if not self.principal.can(permission):
            raise Forbidden(f"your role ({self.principal.role_label}) lacks the "
                            f"'{permission.value}' permission")
        return self.principal

    @contextmanager
    def writing(self, permission: Permission) -> Iterator[Principal]:
        """A mutation field's block: counted (:meth:`count`) and checked like its REST twin.
        The field is atomic, its answer included: :class:`codex32.api.graphql.executor.Executor`
        runs it in a savepoint."""
        self.count()
        yield self.require(permission)

    def spend(self, value: T) -> T:
        """``value`` (a version's code, an execution's logs, input or result), counted against
        the answer's byte budget: the cost limit counts objects, not what they hold, and aliases
        would repeat a large one. Past ``GRAPHQL_MAX_ANSWER_BYTES`` a field answers 413."""
        if value is not None:
            self.answer_chars += len(value if isinstance(value, str)
                                     else json.dumps(value, separators=(",", ":")))
        limit = self.settings.graphql_max_answer_bytes
        if self.answer_chars > limit:
            raise TooLarge(f"the answer would hold more than {limit} bytes of code, logs, "
                           "inputs and results: ask for fewer items (first) or fewer of "
                           "those fields")
        return value

    def count(self) -> None:
        """Count a costly field (a mutation, a search) as its REST twin's call: each after the
        first counts against the caller's rate limit (the request counted the first), so
        aliases do not multiply what one request may do; 429 makes it the field's error."""
        self.costly_fields += 1
        if self.costly_fields > 1:
            limit_rate(self.principal.rate_key)


def context_of(info: Info[Any, Any]) -> Context:
    """The request's :class:`Context`."""
    return info.context
