"""Language-model calls for a workspace: its fallback chain, bounded calls, usage metrics.

The chain is the workspace's ``llm_fallback`` (or its default provider alone). A provider that
fails, times out or limits us hands over to the next; the last error is raised when all fail.
The chain is built in the caller's transaction (:func:`chain`); the caller ends that transaction
before :func:`complete` calls the providers (docs/architecture.md, "Transactions").
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from codex32.errors import from_plugin_error
from codex32.observability.metrics import LLM_COST, LLM_TOKENS
from codex32.plugins.calls import invoke
from codex32.plugins.errors import ConfigInvalid, PluginError, ProviderError
from codex32.plugins.interfaces import ChatRequest, ChatResult, LLMProvider
from codex32.services import providers

log = logging.getLogger(__name__)


def chain(session: Session, workspace_id: uuid.UUID | str) -> list[LLMProvider]:
    """The workspace's providers in fallback order (built while the session is open)."""
    known = providers.snapshot(session, workspace_id, "llm")
    ids = (list(known.settings.get("llm_fallback") or [])
           or [providers.default_id("llm", known.settings)])
    return [providers.build(session, workspace_id, "llm", plugin_id,  # type: ignore[misc]
                            known=known) for plugin_id in ids if plugin_id]


def complete(candidates: list[LLMProvider], request: ChatRequest) -> ChatResult:
    """Answer ``request`` with the first provider of ``candidates`` (a :func:`chain`) that
    succeeds; call it with no transaction open."""
    last: PluginError = ProviderError("no language model provider is configured")
    for provider in candidates:
        try:
            result = invoke(provider, "complete", provider.complete, request,
                            timeout=request.timeout)
        except ConfigInvalid as exc:
            last = exc
        except ProviderError as exc:
            log.warning("llm provider %s failed (%s); trying the next", provider.id,
                        type(exc).__name__)
            last = exc
            continue
        else:
            record_usage(provider.id, result)
            return result
    raise from_plugin_error(last, "the language model") from last


def record_usage(provider: str, result: ChatResult) -> None:
    """Count tokens and cost per provider and model (no workspace or user labels)."""
    LLM_TOKENS.labels(provider=provider, model=result.model, direction="input").inc(
        result.usage.input_tokens)
    LLM_TOKENS.labels(provider=provider, model=result.model, direction="output").inc(
        result.usage.output_tokens)
    if result.cost_usd:
        LLM_COST.labels(provider=provider, model=result.model).inc(result.cost_usd)
