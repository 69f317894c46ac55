"""The knowledge jobs' bodies: index a document or a bot, build an index generation, delete
vectors, drop a retired generation. Each runs :mod:`codex32.execution.indexing` with
the worker's runtime current; raising makes procrastinate run it again
(:class:`codex32.execution.queue.KnowledgeRetry`), and a document's last attempt records it
``failed`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from procrastinate import JobContext

from codex32.execution import indexing, queue, rebuilding
from codex32.execution.worker import runtime_of
from codex32.observability.logging import log_context
from codex32.runtime import activated


def index_document(context: JobContext, workspace_id: str, document_id: str) -> None:
    """Parse, chunk and embed one uploaded document."""
    with activated(runtime_of(context)), log_context(workspace_id=workspace_id,
                                                     document_id=document_id,
                                                     job_id=context.job.id):
        indexing.index_document(workspace_id, document_id, _is_final(context))


def _is_final(context: JobContext) -> Callable[[BaseException], bool]:
    """Whether a failure ends the job (its retry strategy retries it no more)."""
    def is_final(error: BaseException) -> bool:
        return queue.knowledge_retry.get_retry_decision(exception=error,
                                                        job=context.job) is None
    return is_final


def index_bot(context: JobContext, workspace_id: str, bot_id: str) -> None:
    """Index the current version of a bot."""
    with activated(runtime_of(context)), log_context(workspace_id=workspace_id, bot_id=bot_id,
                                                     job_id=context.job.id):
        indexing.index_bot(workspace_id, bot_id)


def reindex(context: JobContext, workspace_id: str, generation: int) -> None:
    """Fill a building index generation, then activate it."""
    with activated(runtime_of(context)), log_context(workspace_id=workspace_id,
                                                     job_id=context.job.id):
        rebuilding.reindex(workspace_id, generation, _is_final(context))


def forget_vectors(context: JobContext, workspace_id: str, ids: list[str],
                   generation: int | None = None) -> None:
    """Delete the vectors of deleted chunks."""
    with activated(runtime_of(context)), log_context(workspace_id=workspace_id,
                                                     job_id=context.job.id):
        indexing.forget(workspace_id, ids, generation)


def drop_generation(context: JobContext, workspace_id: str, generation: int) -> None:
    """Delete a retired generation's vectors."""
    with activated(runtime_of(context)), log_context(workspace_id=workspace_id,
                                                     job_id=context.job.id):
        indexing.drop_generation(workspace_id, generation)


def erase_vectors(context: JobContext, workspace_id: str, generations: list[int]) -> None:
    """Delete every vector of a workspace whose knowledge was erased, in every store."""
    with activated(runtime_of(context)), log_context(workspace_id=workspace_id,
                                                     job_id=context.job.id):
        indexing.erase(workspace_id, generations)


BODIES: dict[str, Callable[..., None]] = {
    queue.INDEX_DOCUMENT_TASK: index_document, queue.INDEX_BOT_TASK: index_bot,
    queue.REINDEX_TASK: reindex, queue.FORGET_VECTORS_TASK: forget_vectors,
    queue.DROP_GENERATION_TASK: drop_generation, queue.ERASE_VECTORS_TASK: erase_vectors}


def settle_stale() -> int:
    """The maintenance loop's share: settle documents and index builds left unfinished."""
    return indexing.settle_stale()
