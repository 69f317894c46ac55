"""The body of the builder's job: generate a conversation's bot (``queue.BUILD_TASK``).

Like the run job, it owns its sessions: one short transaction marks the build started, the
pipeline runs with none open, each progress event is committed as it happens (so the
conversation shows it at once), and one more stores the report. The domain steps are
:mod:`codex32.services.builder.builds`.
"""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import JobContext

from codex32.db import tenancy
from codex32.execution.worker import runtime_of
from codex32.observability.logging import log_context
from codex32.runtime import Runtime, activated
from codex32.services.builder import builds, pipeline
from codex32.services.builder.report import Build, Progress

log = logging.getLogger(__name__)


def build_bot(context: JobContext, workspace_id: str, conversation_id: str) -> None:
    """Build the conversation's specification; progress and report go on the conversation."""
    rt = runtime_of(context)
    with activated(rt), log_context(workspace_id=workspace_id,
                                    conversation_id=conversation_id):
        run(rt, workspace_id, conversation_id, context.job.id)


def run(rt: Runtime, workspace_id: str, conversation_id: str, job_id: int | None) -> None:
    """Start, build and store one conversation's generation (with ``rt`` current)."""
    with rt.sessions() as session, tenancy.bound(session, workspace_id):
        started = builds.start(session, workspace_id, conversation_id, job_id)
        session.commit()
    if started is None:
        return
    result: Build | None = None
    error = None
    try:
        result = pipeline.build(workspace_id, started.specification, caller=started.caller,
                                previous=started.previous,
                                progress=recorder(rt, workspace_id, conversation_id))
    except Exception as exc:
        log.exception("the build of conversation %s failed", conversation_id)
        error = f"{type(exc).__name__}: {exc}"[:2000]
    try:
        _store(rt, workspace_id, conversation_id, result, error)
    except Exception as exc:
        if result is None:
            raise  # storing an error failed too: the job fails (and is retried) as it is
        # A report the database refuses must not leave the conversation generating for ever
        # (its step set, every later message a 409): its failure is stored instead.
        log.exception("the report of conversation %s could not be stored", conversation_id)
        _store(rt, workspace_id, conversation_id, None,
               f"the build's report could not be stored ({type(exc).__name__})")


def _store(rt: Runtime, workspace_id: str, conversation_id: str, result: Build | None,
           error: str | None) -> None:
    with rt.sessions() as session, tenancy.bound(session, workspace_id):
        builds.store(session, conversation_id, result, error)
        session.commit()


def recorder(rt: Runtime, workspace_id: str, conversation_id: str) -> Progress:
    """The pipeline's progress callback: each event committed on the conversation at once."""
    def record(event: str, detail: dict[str, Any]) -> None:
        try:
            with rt.sessions() as session, tenancy.bound(session, workspace_id):
                builds.add_progress(session, conversation_id, event, detail)
                session.commit()
        except Exception:  # progress must never fail the build
            log.warning("could not record build progress", exc_info=True)
    return record
