"""Which deployments answer a request: the workspace's aliases and chains, read from its
settings (``settings.llm``), and the provider instances built for them.

A request names a model as ``provider/model`` (that deployment alone), as an alias of the
workspace (``fast``, ``smart`` or its own names: an ordered chain), or as a bare model name
(the workspace's first provider with that model). No model: the alias ``default`` when set,
else the legacy ``llm_fallback`` chain of providers at their configured models.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.errors import Invalid
from codex32.plugins.interfaces import LLMProvider
from codex32.services import providers
from codex32.services.gateway.calls import Deployment

MAX_CHAIN = 10


@dataclass(frozen=True)
class Route:
    """The deployments to try in order, each with the provider instance built for it."""

    deployments: tuple[Deployment, ...]
    instances: dict[str, LLMProvider]
    settings: dict[str, Any]


def llm_settings(workspace_settings: dict[str, Any]) -> dict[str, Any]:
    """The workspace's gateway settings (``settings.llm``), empty when unset."""
    found = workspace_settings.get("llm")
    return found if isinstance(found, dict) else {}


def parse_deployment(text: str) -> Deployment:
    """``provider/model`` or a bare ``provider`` (its configured default model)."""
    provider, _, model = text.partition("/")
    return Deployment(provider=provider, model=model or None)


def chain_for(workspace_settings: dict[str, Any], requested: str | None,
              default_provider: str | None) -> tuple[Deployment, ...]:
    """The ordered deployments for a requested model or alias (see the module docstring)."""
    aliases = llm_settings(workspace_settings).get("aliases") or {}
    if requested is None:
        if "default" in aliases:
            return tuple(parse_deployment(d) for d in aliases["default"])
        ids = list(workspace_settings.get("llm_fallback") or []) or (
            [default_provider] if default_provider else [])
        return tuple(Deployment(provider=i) for i in ids)
    if requested in aliases:
        return tuple(parse_deployment(d) for d in aliases[requested])
    if "/" in requested:
        return (parse_deployment(requested),)
    first = (list(workspace_settings.get("llm_fallback") or []) or [default_provider])[0]
    if first is None:
        raise Invalid(f"model {requested!r} is neither an alias nor provider/model, and no "
                      "language model provider is configured")
    return (Deployment(provider=first, model=requested),)


def route(session: Session, workspace_id: uuid.UUID | str, requested: str | None,
          known: providers.Snapshot | None = None) -> Route:
    """The route for a request, with its provider instances (built while the session is open).

    ``known``: the workspace's ``llm`` snapshot when the caller read it already. An unknown
    alias target or provider is a 422 naming it, never a silent skip.
    """
    known = known or providers.snapshot(session, workspace_id, "llm")
    default = providers.default_id("llm", known.settings)
    deployments = chain_for(known.settings, requested, default)[:MAX_CHAIN]
    if not deployments:
        raise Invalid("no language model provider is configured")
    instances: dict[str, LLMProvider] = {}
    for deployment in deployments:
        if deployment.provider in instances:
            continue
        if runtime.current().plugins.get("llm", deployment.provider) is None:
            raise Invalid(f"model {requested or 'default'!r} routes to provider "
                          f"{deployment.provider!r}, which is not installed")
        instances[deployment.provider] = providers.build(  # type: ignore[assignment]
            session, workspace_id, "llm", deployment.provider, known=known)
    return Route(deployments=deployments, instances=instances,
                 settings=llm_settings(known.settings))
