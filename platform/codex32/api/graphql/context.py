"""What every resolver gets: the principal, the request's session (bound to its workspace by
the guard), the settings and the request's loaders; and the permission check of REST's
``@requires``, made per field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from strawberry.types import Info

from codex32.api.graphql.loaders import Loaders
from codex32.auth.guard import limit_rate
from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.config import Settings
from codex32.errors import Forbidden


@dataclass
class Context:
    """One GraphQL request's principal, session, settings and loaders."""

    principal: Principal
    session: Session
    settings: Settings
    loaders: Loaders = field(default_factory=Loaders)
    writes: int = 0  # mutation fields run so far

    def require(self, permission: Permission) -> Principal:
        """The principal, if its role grants ``permission`` (REST's ``@requires``); else 403."""
        if not self.principal.can(permission):
            raise Forbidden(f"your role ({self.principal.role}) lacks the "
                            f"'{permission.value}' permission")
        return self.principal

    @contextmanager
    def writing(self, permission: Permission) -> Iterator[Principal]:
        """A mutation field's block: counted and checked like its REST twin. Each field after
        the first counts against the caller's rate limit as one more REST call (the request
        counted the first); 429 makes it the field's error. The field is atomic, its answer
        included: :class:`codex32.api.graphql.executor.Executor` runs it in a savepoint."""
        self.writes += 1
        if self.writes > 1:
            limit_rate(self.principal.rate_key)
        yield self.require(permission)


def context_of(info: Info[Any, Any]) -> Context:
    """The request's :class:`Context`."""
    return info.context
