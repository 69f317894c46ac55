"""Telling a workspace that a budget crossed its soft limit: once per budget and period, to
every notifier the workspace configured (``provider_configs`` of kind ``notifier``).

Called after the ledger's commit with no transaction open, each notifier bounded in time;
a notifier that fails is logged, never the caller's failure.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db.models import ProviderConfig
from codex32.plugins.calls import invoke
from codex32.plugins.interfaces import Notification
from codex32.services import provider_instances

log = logging.getLogger(__name__)

EVENT = "llm.budget.soft_limit"
TIMEOUT = 5.0


def soft_limit_crossed(session: Session, workspace_id: str,
                       crossed: list[dict[str, Any]]) -> None:
    """Notify the workspace's notifiers of each crossed soft limit (best effort)."""
    try:
        ids = session.execute(select(ProviderConfig.plugin_id).where(
            ProviderConfig.kind == "notifier")).scalars().all()
        instances = [provider_instances.build(session, workspace_id, "notifier", plugin_id)
                     for plugin_id in ids
                     if runtime.current().plugins.get("notifier", plugin_id) is not None]
        session.commit()
    except Exception:
        log.warning("could not read the workspace's notifiers", exc_info=True)
        session.rollback()
        return
    finally:
        session.close()
    for item in crossed:
        message = (f"LLM budget {item['budget']} crossed its soft limit: {item['spent_usd']} "
                   f"USD spent of {item['soft_limit_usd']}; it resets at {item['resets_at']}.")
        for instance in instances:
            try:
                invoke(instance, "notify", instance.notify, Notification(  # type: ignore[attr-defined]
                    event=EVENT, workspace_id=workspace_id,
                    id=f"{EVENT}:{item['budget']}:{item['resets_at']}",
                    payload={**item, "message": message}), timeout=TIMEOUT)
            except Exception as exc:
                log.warning("notifier %s failed to deliver a budget notice (%s)", instance.id,
                            type(exc).__name__)
