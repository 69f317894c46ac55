"""What ``GET /api/v1/llm/deployments`` shows: every (provider, model) the workspace's
routes name (chat and embedding), the aliases that use it, and its cooldown state in the
shared store."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.services import provider_instances, providers
from codex32.services.gateway import cooldown, routing
from codex32.services.gateway.calls import stored_section


def describe(session: Session, workspace_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """The deployments of the bound workspace, each with its aliases and cooldown state."""
    workspace = str(uuid.UUID(str(workspace_id)))
    known = provider_instances.snapshot(session, workspace, "llm")
    settings = routing.llm_settings(known.settings)
    default = providers.default_id("llm", known.settings)
    used: dict[tuple[str, str, str], list[str]] = {}
    for name in [None, *sorted(stored_section(settings, "aliases"))]:
        for deployment in routing.chain_for(known.settings, name, default):
            model = deployment.model or _default_model(known, "llm", deployment.provider)
            used.setdefault(("llm", deployment.provider, model), []).append(
                name or "(no model)")
    embedders = provider_instances.snapshot(session, workspace, "embedder")
    default = providers.default_id("embedder", embedders.settings)
    for name in [None, *sorted(stored_section(settings, "embedding_aliases"))]:
        for deployment in routing.embedding_chain_for(embedders.settings, name, default):
            # As the gateway names it: an embedder without a model setting goes by its id.
            model = deployment.model or _default_model(embedders, "embedder",
                                                       deployment.provider, deployment.provider)
            used.setdefault(("embedder", deployment.provider, model), []).append(
                name or "(no model)")
    state = cooldown.store().state(session, workspace)
    shown = []
    for (kind, provider, model), aliases in sorted(used.items()):
        found = state.get((provider, model), {})
        until = found.get("cooldown_until")
        shown.append({"kind": kind, "provider": provider, "model": model, "aliases": aliases,
                      "state": "cooldown" if until else "available",
                      "cooldown_until": until.isoformat() if until else None,
                      "recent_failures": found.get("recent_failures", 0),
                      "last_error": found.get("last_error")})
    return shown


def _default_model(known: provider_instances.Snapshot, kind: str, provider: str,
                   otherwise: str = "default") -> str:
    row = known.rows.get(provider)
    registration = runtime.current().plugins.get(kind, provider)
    if row is not None and row.config.get("model"):
        return str(row.config["model"])
    if registration is not None:
        prop = (registration.cls.config_schema.get("properties") or {}).get("model") or {}
        if isinstance(prop, dict) and prop.get("default"):
            return str(prop["default"])
    return otherwise
