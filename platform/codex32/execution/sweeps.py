"""Sweeps of the worker's maintenance loop that own their transactions, in every workspace,
each swept under its own binding: rows that expire and that nobody else deletes, LLM calls
whose process ended before recording them, and the knowledge indexes a worker checks when it
starts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from codex32.db import tenancy
from codex32.errors import DomainError
from codex32.services.gateway import recording, records
from codex32.services.knowledge import indexes
from codex32.services.oidc import sign_ins

log = logging.getLogger(__name__)

FIRST_WORKSPACE = uuid.UUID(int=0)  # where the knowledge pass starts
KNOWLEDGE_BATCH = 100  # workspaces checked per maintenance pass
# A pass starts with every worker (the operator's settings are read at start) and again
# after this long: a process still on an old setting during a rolling restart may have
# abandoned a build meanwhile (its next upload's view of the store), and the pass restarts it.
KNOWLEDGE_PASS_SECONDS = 3600.0


def _in_each(sessions: Callable[[], Session], workspaces: list[uuid.UUID],
             work: Callable[[Session], int], failed: str) -> dict[uuid.UUID, int]:
    """``work`` in each workspace, in a bound transaction of its own that it commits: how
    much each did. One workspace's failure is logged (``failed``) and the others go on."""
    done: dict[uuid.UUID, int] = {}
    for workspace_id in workspaces:
        try:
            with sessions() as session, tenancy.bound(session, workspace_id):
                done[workspace_id] = work(session)
                session.commit()
        except Exception:
            log.exception(failed, extra={"workspace_id": str(workspace_id)})
    return done


def expired_oidc_sign_ins(sessions: Callable[[], Session]) -> int:
    """Delete expired OIDC sign-ins in every workspace that holds some; how many went (a new
    sign-in clears only its own workspace's)."""
    with sessions() as session:
        workspaces = sign_ins.workspaces_with_expired(session)
    return sum(_in_each(sessions, workspaces, sign_ins.delete_expired,
                        "could not delete expired OIDC sign-ins").values())


def stale_llm_calls(sessions: Callable[[], Session]) -> int:
    """Settle the LLM calls left pending by a process that ended before recording them
    (:func:`codex32.services.gateway.recording.settle_stale`: at their reserved maximum, soft
    limits crossed notified), a batch of workspaces a pass; how many were settled."""
    before = records.stale_before()
    with sessions() as session:
        workspaces = records.workspaces_with_stale(session, before)
    settled = _in_each(sessions, workspaces, lambda session: recording.settle_stale(
        session, str(tenancy.current_workspace()), before),
        "could not settle the LLM calls left pending")
    for workspace_id, count in settled.items():
        if count:
            log.warning("settled %d LLM calls whose process ended before recording them, "
                        "each at its reserved maximum", count,
                        extra={"workspace_id": str(workspace_id)})
    return sum(settled.values())


def knowledge_placement(sessions: Callable[[], Session], after: uuid.UUID,
                        limit: int = KNOWLEDGE_BATCH) -> uuid.UUID | None:
    """One batch of a pass over every workspace's knowledge index, made when a worker
    starts (the operator's settings are read at start: a new default store or embedder, a
    new ``MILVUS_URI`` show there) and hourly: in each workspace after ``after`` holding a
    generation, in its own bound transaction, start the build the workspace's next upload
    would (:func:`~codex32.services.knowledge.indexes.converge`). Workers starting together
    start each build once (the workspace's generation lock). Returns where the next batch
    starts, None when the pass is over."""
    with sessions() as session:
        found = list(session.execute(text("SELECT workspace_id FROM knowledge_workspaces("
                                          ":after, :limit)"),
                                     {"after": after, "limit": limit}).scalars())
    for workspace_id in found:
        try:
            with sessions() as session, tenancy.bound(session, workspace_id):
                if indexes.converge(session, workspace_id):
                    log.info("knowledge index rebuild started: the platform's store or "
                             "embedder changed", extra={"workspace_id": str(workspace_id)})
                session.commit()
        except DomainError as exc:  # its embedder or store cannot be built: said once a pass
            log.warning("could not check the knowledge index: %s", exc.message,
                        extra={"workspace_id": str(workspace_id)})
        except Exception:
            log.exception("could not check the knowledge index",
                          extra={"workspace_id": str(workspace_id)})
    return found[-1] if len(found) == limit else None
