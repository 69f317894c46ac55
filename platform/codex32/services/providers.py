"""Per-workspace plugin configuration and the instances built from it.

A workspace configures a plugin (``kind``, ``id``) with a config validated against the
plugin's JSON Schema and secrets encrypted at rest. :func:`build` returns an instance for the
workspace, cached by (workspace, kind, id, config generation): a change takes effect on the
next request in every process, because each use reads the generation, which is new on every
save and never repeats (the version restarts at 1 after a delete, so it cannot be the key).
The instances live in the current runtime (:mod:`codex32.runtime.instances`); no request
handling here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast, overload

from jsonschema import Draft202012Validator
from sqlalchemy import CursorResult, and_, bindparam, delete, literal_column, select
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.db import driver, tenancy
from codex32.db.models import ProviderConfig, Workspace
from codex32.errors import Invalid, NotFound, from_plugin_error
from codex32.outbound import UnsafeURL, check_url
from codex32.plugins.calls import invoke
from codex32.plugins.errors import (
    ConfigInvalid,
    PluginError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.plugins.interfaces import Executor, HealthResult, Plugin, with_defaults
from codex32.plugins.manager import Registration
from codex32.services import audit

MASK = "********"
HEALTH_TIMEOUT_SECONDS = 10.0  # a /test never waits longer, whatever PLUGIN_TIMEOUT_SECONDS

P = TypeVar("P", bound=Plugin)
# (workspace id, kind, plugin id, configuration generation or None)
CacheKey = tuple[str, str, str, str | None]


def health_timeout() -> float:
    """How long a provider test or a template listing waits for the plugin."""
    return min(runtime.current().settings.plugin_timeout_seconds, HEALTH_TIMEOUT_SECONDS)


# -- validation ---------------------------------------------------------------------------


def validate_config(cls: type[Plugin], config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` against the plugin's schema; 422 with field errors.

    Properties the schema marks ``"format": "uri"`` are outbound URLs: they must not target
    private addresses unless the operator allows it.
    """
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(cls.config_schema).iter_errors(config):
        path = ".".join(str(part) for part in error.absolute_path) or "config"
        errors.setdefault(path, []).append(error.message[:300])
    for name, prop in (cls.config_schema.get("properties") or {}).items():
        value = config.get(name)
        if isinstance(prop, dict) and prop.get("format") == "uri" and isinstance(value, str):
            try:
                check_url(value, allow_private=runtime.current().settings.allow_private_urls,
                          resolve=False)
            except UnsafeURL as exc:
                errors.setdefault(name, []).append(str(exc))
    if errors:
        raise Invalid(f"invalid configuration for {cls.kind} '{cls.id}'",
                      errors={"json": {"config": errors}})
    return with_defaults(cls.config_schema, config)


def _registration(kind: str, plugin_id: str) -> Registration:
    if kind not in runtime.current().plugins.kinds:
        raise NotFound(f"unknown plugin kind '{kind}'")
    found = runtime.current().plugins.get(kind, plugin_id)
    if found is None:
        raise NotFound(f"no {kind} plugin with id '{plugin_id}' is installed")
    return found


# -- reading ------------------------------------------------------------------------------


def default_id(kind: str, workspace_settings: dict[str, Any]) -> str | None:
    """The workspace's default plugin id for ``kind``, else the operator's, else the one the
    kind declares, else the first."""
    plugins = runtime.current().plugins
    available = plugins.classes(kind)
    for candidate in ((workspace_settings.get("defaults") or {}).get(kind),
                      runtime.current().settings.default_plugins.get(kind),
                      plugins.default(kind)):
        if candidate and candidate in available:
            return candidate
    return min(available) if available else None


def masked(row: ProviderConfig | None) -> dict[str, Any] | None:
    """How the API shows a stored configuration: config as is, secrets only as set."""
    if row is None:
        return None
    return {"config": row.config, "secrets": dict.fromkeys(row.secret_names, MASK),
            "version": row.version, "updated_at": row.updated_at}


def catalogue(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Every kind with its available plugins, their schemas, the default and what is set."""
    workspace = session.get(Workspace, principal.workspace_id)
    settings = workspace.settings if workspace else {}
    rows = {(row.kind, row.plugin_id): row
            for row in session.execute(select(ProviderConfig)).scalars()}
    kinds = []
    for kind in runtime.current().plugins.kinds:
        plugins = []
        for plugin_id, registration in sorted(runtime.current().plugins.classes(kind).items()):
            cls = registration.cls
            plugins.append({
                "id": plugin_id, "plugin": registration.plugin, "title": cls.title or plugin_id,
                "description": cls.description, "config_schema": cls.config_schema,
                "secrets": list(cls.secrets), "capabilities": sorted(cls.capabilities),
                "configured": masked(rows.get((kind, plugin_id))), "available": True,
            })
        plugins += [unavailable(row) for (row_kind, plugin_id), row in sorted(rows.items())
                    if row_kind == kind and runtime.current().plugins.get(kind, plugin_id) is None]
        kinds.append({"kind": kind, "default": default_id(kind, settings),
                      "fallback": list(settings.get("llm_fallback") or []) if kind == "llm"
                      else [], "plugins": plugins})
    return kinds


def unavailable(row: ProviderConfig) -> dict[str, Any]:
    """How the API shows a saved configuration whose plugin is not loaded: kept, marked
    unavailable, with the load error of the entry point that provided it (when known)."""
    # Rows saved before the entry point was recorded: the one named like the plugin id.
    failure = runtime.current().plugins.failure(row.plugin or row.plugin_id)
    detail = f"{row.kind} '{row.plugin_id}' is unavailable: " + (
        f"plugin {failure['name']} failed to load: {failure['error']}" if failure
        else "no installed plugin provides it any more")
    return {"id": row.plugin_id, "plugin": row.plugin, "title": row.plugin_id,
            "description": "", "config_schema": None, "secrets": [], "capabilities": [],
            "configured": masked(row), "available": False, "load_error": failure,
            "detail": detail}


def check_workspace_choices(settings: dict[str, Any]) -> None:
    """422 unless every default and fallback id names an installed plugin of its kind."""
    errors: dict[str, list[str]] = {}
    for kind, plugin_id in (settings.get("defaults") or {}).items():
        if runtime.current().plugins.get(kind, plugin_id) is None:
            errors.setdefault(f"defaults.{kind}", []).append(f"no {kind} plugin '{plugin_id}'")
    for plugin_id in settings.get("llm_fallback") or []:
        if runtime.current().plugins.get("llm", plugin_id) is None:
            errors.setdefault("llm_fallback", []).append(f"no llm plugin '{plugin_id}'")
    if errors:
        raise Invalid("unknown plugin ids in the workspace settings",
                      errors={"json": {"settings": errors}})


# -- writing ------------------------------------------------------------------------------


def put(session: Session, principal: Principal, kind: str, plugin_id: str,
        config: dict[str, Any], secrets: dict[str, str | None]) -> dict[str, Any]:
    """Store the workspace's configuration of a plugin; ``None`` for a secret removes it."""
    registration = _registration(kind, plugin_id)
    cls = registration.cls
    unknown = sorted(set(secrets) - set(cls.secrets))
    if unknown:
        raise Invalid(f"unknown secrets for {kind} '{plugin_id}'",
                      errors={"json": {"secrets": {name: ["not a secret of this plugin"]
                                                   for name in unknown}}})
    full_config = validate_config(cls, config)
    row = session.execute(select(ProviderConfig).where(
        ProviderConfig.kind == kind, ProviderConfig.plugin_id == plugin_id)
        .with_for_update()).scalar()
    box = runtime.current().box
    stored = box.open(row.secrets) if row else {}
    stored.update({name: value for name, value in secrets.items() if value is not None})
    for name in [name for name, value in secrets.items() if value is None]:
        stored.pop(name, None)
    _check_constructible(cls, full_config, stored)
    if row is None:
        row = ProviderConfig(workspace_id=principal.workspace_id, kind=kind,
                             plugin_id=plugin_id, version=0)
        session.add(row)
    row.config = config
    row.plugin = registration.plugin
    row.secrets = box.seal(stored) if stored else None
    row.secret_names = sorted(stored)
    row.version = (row.version or 0) + 1
    row.generation = uuid.uuid4()
    row.updated_by = principal.user_id
    row.updated_at = datetime.now(UTC)
    audit.record(session, principal, "provider.update", "provider", f"{kind}/{plugin_id}",
                 {"config": config, "secrets_set": sorted(stored),
                  "secrets_changed": sorted(secrets), "version": row.version})
    session.flush()
    return masked(row) or {}


def _check_constructible(cls: type[Plugin], config: dict[str, Any],
                         secrets: dict[str, str]) -> None:
    """Let the plugin refuse a configuration its schema cannot express."""
    try:
        cls(config, secrets).close()
    except ConfigInvalid as exc:
        raise Invalid(f"invalid configuration for {cls.kind} '{cls.id}': {exc}",
                      errors={"json": {"config": exc.errors or {"config": [str(exc)]}}}) from exc
    except PluginError as exc:
        raise from_plugin_error(exc, cls.id) from exc


def remove(session: Session, principal: Principal, kind: str, plugin_id: str) -> None:
    """Forget the workspace's configuration of a plugin (also one whose plugin no longer
    loads)."""
    if kind not in runtime.current().plugins.kinds:
        raise NotFound(f"unknown plugin kind '{kind}'")
    deleted = cast(CursorResult[Any], session.execute(delete(ProviderConfig).where(
        ProviderConfig.kind == kind, ProviderConfig.plugin_id == plugin_id))).rowcount
    if not deleted:
        raise NotFound(f"{kind} '{plugin_id}' is not configured in this workspace")
    audit.record(session, principal, "provider.delete", "provider", f"{kind}/{plugin_id}", {})


# -- instances ----------------------------------------------------------------------------


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
                           ProviderConfig.secrets, ProviderConfig.generation)
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
                                                    secrets=secrets, generation=generation)
                          for _settings, plugin_id, config, secrets, generation in rows
                          if plugin_id is not None})


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
    registration = _registration(kind, plugin_id)
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
    try:
        instance = registration.cls(settings, current.box.open(row.secrets if row else None))
    except PluginError as exc:
        raise from_plugin_error(exc, plugin_id) from exc
    return current.instances.put(key, instance)


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
                         HealthResult(ok=False, detail=unavailable(row)["detail"]))
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


def rotate_secrets(session: Session) -> tuple[int, list[str]]:
    """Re-encrypt every provider secret under the newest key, in the session's transaction
    (which must see every workspace; the caller commits, or rolls back when any row is left).

    Returns how many were re-encrypted and the rows no configured key opens.
    """
    rows = session.execute(select(ProviderConfig).where(ProviderConfig.secrets.is_not(None))
                           ).scalars().all()
    return len(rows), runtime.current().box.rotate_each(
        rows, "secrets", lambda row: f"{row.workspace_id}/{row.kind}/{row.plugin_id}")
