"""Whether the workspace's LLM route reaches a language model, and when it does not, why and
what to change, in words a new admin can act on.

"No language model is configured" is said only when none is: a provider that is configured
but that the route (the ``default`` alias, ``llm_fallback`` or ``settings.defaults.llm``) does
not name is named, with the one workspace setting that routes to it. Reads only; the caller's
session is bound to the workspace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.errors import DomainError
from codex32.services import provider_instances, providers
from codex32.services.gateway import routing
from codex32.services.gateway.calls import stored_section

NONE_CONFIGURED = "no language model is configured"
CONFIGURE = ("Configure an LLM provider (PUT /api/v1/providers/llm/{id}) and route the "
             "workspace to it (PATCH /api/v1/workspace: settings.defaults.llm, or a "
             "'default' alias in settings.llm.aliases)")


@dataclass(frozen=True)
class ModelRoute:
    """What the workspace's default LLM route reaches."""

    uses_model: bool
    missing: str = ""  # why no language model answers ("" when one does)
    fix: str = ""  # the change that makes one answer, a sentence without its full stop
    models: tuple[str, ...] = ()  # the route's language model providers, in order

    def why_heuristics(self) -> tuple[str, str]:
        """(why the built-in heuristics answered, what to do), also when the route has a
        model: then every model on it failed and the chain fell back to them."""
        if self.missing:
            return self.missing, self.fix or CONFIGURE
        named = ", ".join(f"'{model}'" for model in self.models) or "the language model"
        first = self.models[0] if self.models else "{id}"
        return (f"{named} on this workspace's route did not answer",
                f"Check it (POST /api/v1/providers/llm/{first}/test)")


UNCONFIGURED = ModelRoute(False, missing=NONE_CONFIGURED, fix=CONFIGURE)


def inspect(session: Session, workspace_id: str,
            known: provider_instances.Snapshot | None = None) -> ModelRoute:
    """The workspace's default route: whether a language model is on it, else why not
    (``known``: the workspace's LLM snapshot, when the caller read it already)."""
    known = known or provider_instances.snapshot(session, workspace_id, "llm")
    try:
        route = routing.route(session, workspace_id, None, known=known)
    except DomainError as exc:  # a route naming a provider no longer installed, say
        return ModelRoute(False, missing=f"this workspace's LLM route is unusable "
                                         f"({exc.message})",
                          fix="Correct settings.defaults.llm, settings.llm_fallback or the "
                              "'default' alias in settings.llm.aliases (PATCH "
                              "/api/v1/workspace)")
    on_route = tuple(dict.fromkeys(d.provider for d in route.deployments))
    models = tuple(provider for provider in on_route
                   if getattr(route.instances[provider], "is_language_model", True))
    if models:
        return ModelRoute(True, models=models)
    configured = sorted(provider for provider in known.rows
                        if provider not in on_route and _is_language_model(provider))
    if not configured:
        return ModelRoute(False, missing=NONE_CONFIGURED, fix=CONFIGURE)
    named = ", ".join(f"'{provider}'" for provider in configured)
    one = len(configured) == 1
    how, change = _route_change(known.settings, configured[0])
    return ModelRoute(False,
                      missing=f"the LLM provider{'' if one else 's'} {named} "
                              f"{'is' if one else 'are'} configured, but this workspace's "
                              f"route does not use {'it' if one else 'them'}: {how}",
                      fix=f"Route the workspace to '{configured[0]}': PATCH "
                          f"/api/v1/workspace {json.dumps({'settings': change})}")


def _route_change(settings: dict[str, Any], provider: str) -> tuple[str, dict[str, Any]]:
    """How the route is chosen now, and the settings change that puts ``provider`` on it (the
    setting the route reads first: an alias wins over ``llm_fallback``, which wins over
    ``defaults.llm``)."""
    aliases = stored_section(routing.llm_settings(settings), "aliases")
    if "default" in aliases:
        return (f"its 'default' alias (settings.llm.aliases) names only "
                f"{_listed(aliases['default'])}",
                {"llm": {"aliases": {"default": [provider]}}})
    fallback = settings.get("llm_fallback")
    if fallback:
        return (f"settings.llm_fallback names only {_listed(fallback)}",
                {"llm_fallback": [provider]})
    default = providers.default_id("llm", settings)
    return (f"its default LLM provider is '{default}', the built-in heuristics",
            {"defaults": {"llm": provider}})


def _listed(targets: Any) -> str:
    return ", ".join(f"'{target}'" for target in targets) if isinstance(targets, list) else "?"


def _is_language_model(provider: str) -> bool:
    registration = runtime.current().plugins.get("llm", provider)
    return registration is not None and bool(getattr(registration.cls, "is_language_model",
                                                     True))
