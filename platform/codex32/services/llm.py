"""Language-model calls for the platform's own features, through the gateway.

Kept for callers that want a plain :class:`ChatResult`; new code calls
:func:`codex32.services.gateway.chat` and names its purpose and caller.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from codex32.plugins.interfaces import ChatRequest, ChatResult
from codex32.services import gateway


def complete(session: Session, workspace_id: uuid.UUID | str, request: ChatRequest, *,
             purpose: str = "builder", caller: gateway.Caller | None = None) -> ChatResult:
    """Answer ``request`` through the workspace's gateway route (fallback, budget, ledger)."""
    result = gateway.chat(session, workspace_id, request, purpose=purpose, caller=caller,
                          deadline_seconds=request.timeout)
    return ChatResult(text=result.text, model=result.model, usage=result.usage,
                      cost_usd=float(result.cost_usd or 0), finish_reason=result.finish_reason)
