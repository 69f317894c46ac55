"""The body of the builder's job: generate a conversation's bot (``queue.BUILD_TASK``).

The work is :func:`codex32.services.builder.builds.run`; this module binds it to the
worker's runtime and log context, as the other job bodies do.
"""

from __future__ import annotations

from procrastinate import JobContext

from codex32.execution.worker import runtime_of
from codex32.observability.logging import log_context
from codex32.runtime import activated
from codex32.services.builder import builds


def build_bot(context: JobContext, workspace_id: str, conversation_id: str) -> None:
    """Build the conversation's specification; progress and report go on the conversation."""
    rt = runtime_of(context)
    with activated(rt), log_context(workspace_id=workspace_id,
                                    conversation_id=conversation_id):
        builds.run(workspace_id, conversation_id, context.job.id)
