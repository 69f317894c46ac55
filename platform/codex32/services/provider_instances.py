"""The plugin instances a workspace's configurations describe, built, cached and tested.

:func:`build` returns an instance for the workspace, cached by (workspace, kind, id,
configuration generation): a change takes effect on the next request in every process,
because each use reads the generation, which is new on every save
(:mod:`codex32.services.providers`, which stores the configurations). The instances live in
the current runtime (:mod:`codex32.runtime.instances`). :class:`Probe` runs a plugin's test
outside any transaction. No request handling and no writes to the configurations here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from sqlalchemy import and_, bindparam, literal_column, select
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.db import driver, tenancy
from codex32.db.models import ProviderConfig, Workspace
from codex32.errors import Invalid, NotFound, from_plugin_error
from codex32.plugins.calls import invoke
from codex32.plugins.errors import (
    ConfigInvalid,
    PluginError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderTimeout,
    scrubbed,
)
from codex32.plugins.interfaces import Executor, HealthResult, Plugin, with_defaults
from codex32.services.providers import default_id, installed, opened_secrets, unavailable

HEALTH_TIMEOUT_SECONDS = 10.0  # a /test never waits longer, whatever PLUGIN_TIMEOUT_SECONDS

P = TypeVar("P", bound=Plugin)
# (workspace id, kind, plugin id, configuration generation or None)
CacheKey = tuple[str, str, str, str | None]


def health_timeout() -> float:
    """How long a provider test or a template listing waits for the plugin."""
    return min(runtime.current().settings.plugin_timeout_seconds, HEALTH_TIMEOUT_SECONDS)


# -- what building reads ------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A workspace's settings and its stored configurations of one kind, read in one query."""

    settings: dict[str, Any]
    rows: dict[str, ProviderConfig]


def snapshot(session: Session, workspace_id: uuid.UUID | str, kind: str) -> Snapshot:
    """Read what building ``kind`` plugins for the bound workspace needs, in one round trip."""
    return snapshot_of(driver.execute(session, *snapshot_statement(workspace_id, kind)))


# The settings, and what building an instance reads of each configuration (on the driver:
# the gateway reads it on every request, in a batch with its other reads).
_SNAPSHOT_OF_ANY = (select(Workspace.settings, ProviderConfig.plugin_id, ProviderConfig.config,
                           ProviderConfig.secrets, ProviderConfig.generation,
                           ProviderConfig.plugin, ProviderConfig.secret_names)
                    .outerjoin(ProviderConfig, and_(ProviderConfig.workspace_id == Workspace.id,
                                                    ProviderConfig.kind == bindparam("kind"))))
_SNAPSHOT = _SNAPSHOT_OF_ANY.where(Workspace.id == bindparam("workspace"))
# The same for the workspace bound in the transaction (a read in the round trip that binds it).
_BOUND_SNAPSHOT = _SNAPSHOT_OF_ANY.where(Workspace.id == literal_column(tenancy.BOUND_WORKSPACE))


def snapshot_statement(workspace_id: uuid.UUID | str, kind: str) -> driver.Statement:
    """The statement :func:`snapshot` runs, to batch with other reads
    (:func:`codex32.db.driver.execute_batch`); its rows go to :func:`snapshot_of`."""
    return _SNAPSHOT, {"workspace": uuid.UUID(str(workspace_id)), "kind": kind}


def bound_snapshot_statement(kind: str) -> driver.Statement:
    """:func:`snapshot_statement` for the workspace the transaction has bound when it runs
    (say in the authentication's round trip: ``codex32.auth.guard.requires(reads=...)``)."""
    return _BOUND_SNAPSHOT, {"kind": kind}


def snapshot_of(found: driver.Rows) -> Snapshot:
    """The :class:`Snapshot` in the rows of :func:`snapshot_statement` (configurations as
    detached rows holding what building an instance reads)."""
    rows = found[1]
    return Snapshot(settings=(rows[0][0] if rows else None) or {},
                    rows={plugin_id: ProviderConfig(plugin_id=plugin_id, config=config,
                                                    secrets=secrets, generation=generation,
                                                    plugin=plugin, secret_names=names)
                          for _settings, plugin_id, config, secrets, generation, plugin, names
                          in rows if plugin_id is not None})


# -- instances ----------------------------------------------------------------------------


@overload
def build(session: Session, workspace_id: uuid.UUID | str, kind: type[P],
          plugin_id: str | None = None, *, known: Snapshot | None = None,
          model: str | None = None, config: dict[str, Any] | None = None) -> P: ...


@overload
def build(session: Session, workspace_id: uuid.UUID | str, kind: str,
          plugin_id: str | None = None, *, known: Snapshot | None = None,
          model: str | None = None, config: dict[str, Any] | None = None) -> Plugin: ...


def build(session: Session, workspace_id: uuid.UUID | str, kind: type[Plugin] | str,
          plugin_id: str | None = None, *, known: Snapshot | None = None,
          model: str | None = None, config: dict[str, Any] | None = None) -> Plugin:
    """An instance of the workspace's plugin of ``kind`` (its default when no id is given).

    ``kind`` is the kind's base class (``build(session, ws, Notifier)`` is typed as a
    ``Notifier``) or its name. The session must be bound to ``workspace_id``. Instances are
    cached per configuration generation; an unconfigured plugin runs on its schema's defaults.
    ``known`` reuses a :func:`snapshot` when building several plugins of one kind.
    ``model`` builds it with that ``model`` setting instead of the configured one (an
    embedding chain's ``provider/model``); a plugin without a ``model`` setting refuses it.
    ``config`` builds it with that configuration instead of the saved one, and the saved
    secrets (a knowledge generation kept where an earlier configuration placed it).
    """
    if not isinstance(kind, str):
        kind = kind.kind
    known = known or snapshot(session, workspace_id, kind)
    if plugin_id is None:
        plugin_id = default_id(kind, known.settings)
        if plugin_id is None:
            raise NotFound(f"no {kind} plugin is installed")
    registration = installed(kind, plugin_id)
    row = known.rows.get(plugin_id)
    cached_as, other_model = plugin_id, None
    if model is not None and model != with_defaults(registration.cls.config_schema,
                                                    row.config if row else {}).get("model"):
        if "model" not in (registration.cls.config_schema.get("properties") or {}):
            raise Invalid(f"{kind} '{plugin_id}' has no model setting: name it without a "
                          f"model, not '{plugin_id}/{model}'")
        cached_as, other_model = f"{plugin_id}/{model}", model  # beside the configured one
    if config is not None:  # beside the saved one, cached by its content
        digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
        cached_as = f"{cached_as}@{digest.hexdigest()[:16]}"
    key: CacheKey = (str(workspace_id), kind, cached_as, str(row.generation) if row else None)
    current = runtime.current()
    instance = current.instances.get(key)
    if instance is not None:
        return instance
    settings = with_defaults(registration.cls.config_schema,
                             config if config is not None else row.config if row else {})
    if other_model is not None:
        settings["model"] = other_model
    secrets = opened_secrets(row, registration)
    try:
        instance = registration.cls(settings, secrets)
    except PluginError as exc:
        raise from_plugin_error(scrubbed(exc, secrets.values()), plugin_id) from exc
    except Exception as exc:  # a plugin's own bug: its type only, the message may quote
        raise from_plugin_error(exc, plugin_id) from exc
    return current.instances.put(key, instance)


# -- tests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A plugin test ready to run: the instance to check, or the answer already known."""

    workspace_id: str
    kind: str
    plugin_id: str
    instance: Plugin | None
    known: HealthResult | None = None

    def run(self) -> HealthResult:
        """Run the check (call it with no transaction open); the result is cached."""
        if self.instance is None:
            assert self.known is not None
            return self.known
        try:
            result = invoke(self.instance, "probe", self.instance.probe, self.workspace_id,
                            timeout=health_timeout())
        except PluginError as exc:
            result = HealthResult(ok=False, detail=_failure(exc, self.plugin_id))
        runtime.current().instances.record_health(self.workspace_id, self.kind, self.plugin_id,
                                                  result)
        return result


def prepare_test(session: Session, principal: Principal, kind: str, plugin_id: str) -> Probe:
    """Prepare the plugin's health check (a notifier sends a test notification) with the
    workspace's settings. A configured plugin that is not loaded fails.

    The check is a prepared call: the caller ends its transaction before it runs it, so a
    provider call never holds a pooled connection (docs/architecture.md, "Transactions").
    """
    workspace_id = str(principal.workspace_id)
    plugins = runtime.current().plugins
    if kind in plugins.kinds and plugins.get(kind, plugin_id) is None:
        row = session.get(ProviderConfig, (principal.workspace_id, kind, plugin_id))
        if row is not None:
            return Probe(workspace_id, kind, plugin_id, None,
                         HealthResult(ok=False, detail=unavailable(row, principal)["detail"]))
    return Probe(workspace_id, kind, plugin_id,
                 build(session, principal.workspace_id, kind, plugin_id))


def _failure(error: PluginError, plugin_id: str) -> str:
    """What a failed test says: the error's class and the upstream's HTTP status, never text
    the provider may have echoed."""
    if isinstance(error, ConfigInvalid | ProviderAuthError | ProviderTimeout | ProviderRateLimited):
        return from_plugin_error(error, plugin_id).message  # fixed texts, or our own words
    status = getattr(error, "status", None)
    answered = f": the provider answered {status}" if isinstance(status, int) else ""
    return f"{plugin_id} failed ({type(error).__name__}){answered}"


def isolation_levels() -> dict[str, str | None]:
    """The isolation each installed executor enforces on this host, at its default config
    (read once per process at start, :mod:`codex32.runtime.bootstrap`: an executor may probe
    the host to answer)."""
    levels: dict[str, str | None] = {}
    for plugin_id, registration in runtime.current().plugins.classes(Executor.kind).items():
        try:
            executor = cast(Executor, registration.cls(
                with_defaults(registration.cls.config_schema, {}), {}))
            levels[plugin_id] = executor.isolation_level()
        except Exception:  # a broken executor is reported, not fatal
            levels[plugin_id] = None
    return levels
