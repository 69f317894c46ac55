"""The request's transaction: the request, never a service, commits it.

Every endpoint declared on :class:`codex32.api.blueprint.Blueprint` runs through
:func:`owned`: when the view returns, the request's session is committed before the response
leaves (a write the client is told about is never lost); when it raises, nothing is committed
and Flask-SQLAlchemy's teardown rolls the transaction back (a failed request writes nothing).
A :class:`~codex32.errors.DomainError` raised with ``keep_writes=True`` is the one exception:
what the request recorded stands although it answers an error (a reused refresh token revokes
its sign-in, then answers 401).

Services take the session and never commit, roll back or close it. Before a slow call (a code
generator, a language model, a provider's health check) or a side effect that announces a
write (a mail), the view calls :func:`end`: the work so far is committed and the connection goes
back to the pool, so no pooled connection waits on a provider. Work a request leaves for after
its answer in a session of its own goes through :func:`in_background`. The rule is written in
docs/architecture.md, "Transactions".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, after_this_request, current_app
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import db
from codex32.errors import DomainError
from codex32.runtime import background

F = TypeVar("F", bound=Callable[..., Any])


def owned(view: F) -> F:
    """``view`` with the request's transaction committed when it returns."""

    @functools.wraps(view)
    def committed(*args: Any, **kwargs: Any) -> Any:
        try:
            answer = view(*args, **kwargs)
        except DomainError as error:
            if error.keep_writes:
                end()
            raise
        end()
        return answer

    return committed  # type: ignore[return-value]


def end() -> None:
    """Commit the request's work so far and release its connection.

    Call it before a slow call or a mail, after the writes the call must not undo: what the
    view does next runs in a new transaction, bound to the same workspace.
    """
    session = db.session()  # type: ignore[operator]  # the scoped session's current one
    if session.in_transaction():
        session.commit()


def discard() -> None:
    """Roll back the request's work so far: for a view that answers an error page instead of
    raising (the console's forms), so nothing of the failed attempt is kept."""
    session = db.session()  # type: ignore[operator]  # the scoped session's current one
    if session.in_transaction():
        session.rollback()


def session() -> Session:
    """The request's session, for a service that ends its transaction itself (the LLM
    gateway commits it with its budget reservation, before the provider call)."""
    return db.session()  # type: ignore[operator]  # the scoped session's current one


def after_sent(work: Callable[[], None]) -> None:
    """Run ``work`` once the response is sent: the WSGI server closes a response after
    writing it (Flask's ``call_on_close``), which hands ``work`` to the process's background
    thread (:mod:`codex32.runtime.background`), outside the request's context, so the
    connection's next request does not wait for it. For a write the client need not wait
    for, whose absence until then is recorded already (the LLM gateway's record of an
    answer: its pending ledger row stands for it). Run once, however often the response is
    closed."""
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            work()

    @after_this_request
    def later(response: Response) -> Response:
        response.call_on_close(lambda: background.run_later(once))
        return response


def in_background(work: Callable[[Session], Callable[[], object] | None],
                  lane: str = background.NOTICES) -> None:
    """Run ``work`` on the process's background thread of ``lane``, in a session of its own
    that is committed when it returns (and rolled back when it raises), then what it returned
    (a mail announcing its writes), outside any transaction. For work whose time the answer
    must not include: a password reset's lookup and mail tell nothing by the answer's time."""
    state = runtime.of(current_app)

    def run() -> None:
        with runtime.activated(state), state.sessions() as session:
            then = work(session)
            session.commit()
        if then is not None:
            then()

    background.run_later(run, lane)
