"""Which deployments answer a request: the workspace's aliases and chains, read from its
settings (``settings.llm``), and the provider instances built for them.

A chat names a model as ``provider/model`` (that deployment alone), as an alias of the
workspace (``fast``, ``smart`` or its own names: an ordered chain), or as a bare model name
(the workspace's first provider with that model). No model: the alias ``default`` when set,
else the legacy ``llm_fallback`` chain of providers at their configured models.

Embeddings route the same way through ``settings.llm.embedding_aliases`` (chains of
embedders); a bare model name or none takes the ``default`` embedding alias, else the
workspace's default embedder. Alias targets are checked when saved (:func:`check_aliases`):
an alias names installed providers of its kind, never another alias.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.errors import Invalid
from codex32.plugins.interfaces import Embedder, LLMProvider
from codex32.services import provider_instances, providers
from codex32.services.gateway.calls import Deployment, stored_section

MAX_CHAIN = 10
# settings.llm key of each kind's aliases, and what a target of that kind is called.
ALIASES = {"llm": ("aliases", "language model provider", "a"),
           "embedder": ("embedding_aliases", "embedder", "an")}


def check_tools(route: Route, requested: str | None) -> None:
    """Refuse (422 naming ``tools``) a request using tools whose route holds a provider
    without the ``tools`` capability: it would answer without them (or fail on a tool call
    in the conversation), never drop them silently."""
    for provider, instance in route.instances.items():
        if "tools" not in instance.capabilities:
            why = (f"model {requested or 'default'!r} routes to provider {provider!r}, which "
                   "does not support tools (function calling)")
            raise Invalid(why, errors={"json": {"tools": [why]}})


@dataclass(frozen=True)
class Route:
    """The deployments to try in order, each with the provider instance built for it."""

    deployments: tuple[Deployment, ...]
    instances: dict[str, LLMProvider]
    settings: dict[str, Any]
    # Each provider's configuration generation ("": unconfigured, on its defaults): a cached
    # answer is one of the configuration it came from (another base_url may answer otherwise).
    generations: dict[str, str] = field(default_factory=dict)


def generations(known: provider_instances.Snapshot, ids: Iterable[str]) -> dict[str, str]:
    """The configuration generation of each provider of ``ids`` in ``known`` ("" when none)."""
    return {provider: str(known.rows[provider].generation or "") if provider in known.rows
            else "" for provider in ids}


def llm_settings(workspace_settings: dict[str, Any]) -> dict[str, Any]:
    """The workspace's gateway settings (``settings.llm``), empty when unset."""
    found = workspace_settings.get("llm")
    return found if isinstance(found, dict) else {}


def alias_chain(aliases: dict[str, Any], name: str) -> tuple[Deployment, ...]:
    """The deployments of alias ``name``; 422 naming it when its stored chain is not a list
    of targets (a row saved before the API checked it)."""
    chain = aliases[name]
    if not isinstance(chain, list) or not all(isinstance(target, str) for target in chain):
        raise Invalid(f"alias {name!r} in this workspace's settings.llm is unreadable: "
                      "save its chain again")
    return tuple(parse_deployment(target) for target in chain)


def parse_deployment(text: str) -> Deployment:
    """``provider/model`` or a bare ``provider`` (its configured default model)."""
    provider, _, model = text.partition("/")
    return Deployment(provider=provider, model=model or None)


def chain_for(workspace_settings: dict[str, Any], requested: str | None,
              default_provider: str | None) -> tuple[Deployment, ...]:
    """The ordered deployments for a requested model or alias (see the module docstring)."""
    aliases = stored_section(llm_settings(workspace_settings), "aliases")
    if requested is None:
        if "default" in aliases:
            return alias_chain(aliases, "default")
        ids = list(workspace_settings.get("llm_fallback") or []) or (
            [default_provider] if default_provider else [])
        return tuple(Deployment(provider=i) for i in ids)
    if requested in aliases:
        return alias_chain(aliases, requested)
    if "/" in requested:
        return (parse_deployment(requested),)
    first = (list(workspace_settings.get("llm_fallback") or []) or [default_provider])[0]
    if first is None:
        raise Invalid(f"model {requested!r} is neither an alias nor provider/model, and no "
                      "language model provider is configured")
    return (Deployment(provider=first, model=requested),)


def route(session: Session, workspace_id: uuid.UUID | str, requested: str | None,
          known: provider_instances.Snapshot | None = None) -> Route:
    """The route for a request, with its provider instances (built while the session is open).

    ``known``: the workspace's ``llm`` snapshot when the caller read it already. An unknown
    alias target or provider is a 422 naming it, never a silent skip.
    """
    known = known or provider_instances.snapshot(session, workspace_id, "llm")
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
        instances[deployment.provider] = provider_instances.build(  # type: ignore[assignment]
            session, workspace_id, "llm", deployment.provider, known=known)
    return Route(deployments=deployments, instances=instances,
                 settings=llm_settings(known.settings), generations=generations(known, instances))


@dataclass(frozen=True)
class EmbeddingRoute:
    """The embedders to try in order, each built at its deployment's model."""

    deployments: tuple[Deployment, ...]
    instances: dict[str, Embedder]
    settings: dict[str, Any]
    generations: dict[str, str] = field(default_factory=dict)  # as Route's


def embedding_chain_for(workspace_settings: dict[str, Any], requested: str | None,
                        default_embedder: str | None) -> tuple[Deployment, ...]:
    """The ordered embedders for a requested alias or ``provider/model``; anything else
    (none, or a bare model name such as an OpenAI client sends) takes the default chain."""
    aliases = stored_section(llm_settings(workspace_settings), "embedding_aliases")
    if requested is not None and requested in aliases:
        return alias_chain(aliases, requested)
    if requested is not None and "/" in requested:
        return (parse_deployment(requested),)
    if "default" in aliases:
        return alias_chain(aliases, "default")
    return (Deployment(provider=default_embedder),) if default_embedder else ()


def embedding_route(session: Session, workspace_id: uuid.UUID | str,
                    requested: str | None, *, embedder: str | None = None) -> EmbeddingRoute:
    """The embedding route for a request, with its instances (built while the session is
    open). Every embedder of a chain must give vectors of one dimension (a fallback must not
    change the vector space's shape): else a 422 naming them. ``embedder`` names one embedder
    plugin, as configured, instead (a knowledge index is searched with the embedder that
    built it)."""
    known = provider_instances.snapshot(session, workspace_id, "embedder")
    default = providers.default_id("embedder", known.settings)
    deployments = ((Deployment(provider=embedder),) if embedder else
                   embedding_chain_for(known.settings, requested, default)[:MAX_CHAIN])
    if not deployments:
        raise Invalid("no embedder is configured")
    instances: dict[str, Embedder] = {}
    for deployment in deployments:
        if deployment.provider in instances:
            continue
        registration = runtime.current().plugins.get("embedder", deployment.provider)
        if registration is None:
            raise Invalid(f"model {requested or 'default'!r} routes to embedder "
                          f"{deployment.provider!r}, which is not installed")
        model = deployment.model
        if model == deployment.provider and "model" not in (
                registration.cls.config_schema.get("properties") or {}):
            model = None  # how the gateway names an embedder without models ("hashing/hashing")
        instances[deployment.provider] = provider_instances.build(  # type: ignore[assignment]
            session, workspace_id, "embedder", deployment.provider, known=known, model=model)
    dimensions = {provider: instance.dimension for provider, instance in instances.items()}
    if len(set(dimensions.values())) > 1:
        raise Invalid(f"the embedders of {requested or 'default'!r} give vectors of different "
                      f"dimensions ({', '.join(f'{p}: {d}' for p, d in dimensions.items())})")
    return EmbeddingRoute(deployments=deployments, instances=instances,
                          settings=llm_settings(known.settings),
                          generations=generations(known, instances))


def check_aliases(llm: dict[str, Any]) -> None:
    """422 naming the alias and its bad target unless every chain of ``settings.llm`` is
    1 to :data:`MAX_CHAIN` targets, each an installed provider of the alias's kind (aliases
    name providers, never other aliases), an embedding chain naming each embedder once."""
    plugins = runtime.current().plugins
    errors: dict[str, dict[str, list[str]]] = {}
    first = ""
    for kind, (key, what, article) in ALIASES.items():
        aliases = llm.get(key) or {}
        for name, chain in aliases.items():
            problems = []
            if not chain:
                problems.append("an alias needs at least one target")
            if len(chain) > MAX_CHAIN:
                problems.append(f"at most {MAX_CHAIN} targets")
            seen: set[str] = set()
            for target in chain:
                provider = parse_deployment(target).provider
                if plugins.get(kind, provider) is None:
                    if target in aliases:
                        why = "an alias may not name another alias"
                    elif any(plugins.get(other, provider) for other in ALIASES if other != kind):
                        why = f"{provider!r} is not {article} {what}"
                    else:
                        why = f"no {what} {provider!r} is installed"
                    problems.append(f"{target!r}: {why}")
                elif kind == "embedder" and provider in seen:
                    problems.append(f"{target!r}: an embedding chain names each embedder once")
                seen.add(provider)
            if problems:
                errors.setdefault(key, {})[name] = problems
                first = first or f"alias {name!r}: {problems[0]}"
    if errors:
        raise Invalid(f"invalid alias target: {first}",
                      errors={"json": {"settings": {"llm": errors}}})


def resolved(route: Route | EmbeddingRoute) -> list[Deployment]:
    """The route's deployments, each once, with the model its provider uses by default filled
    in (an embedder with no model setting, like the hashing one, is named by its id)."""
    found = []
    for deployment in route.deployments:
        instance = route.instances[deployment.provider]
        model = deployment.model or instance.config.get("model")
        if not model and isinstance(route, EmbeddingRoute):
            model = instance.id
        found.append(Deployment(deployment.provider, str(model) if model else None))
    return list(dict.fromkeys(found))
