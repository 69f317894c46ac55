"""Per-workspace plugin configuration: reading, validating, storing and removing it.

A workspace configures a plugin (``kind``, ``id``) with a config validated against the
plugin's JSON Schema and secrets encrypted at rest. Every save gives the configuration a new
generation, which never repeats (the version restarts at 1 after a delete, so it cannot key a
cache). Building and testing the instances a configuration describes is
:mod:`codex32.services.provider_instances`; no request handling here.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from jsonschema import Draft202012Validator
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.crypto import SecretsUndecryptable
from codex32.db.models import ProviderConfig, Workspace
from codex32.errors import Conflict, Invalid, NotFound, from_plugin_error
from codex32.outbound import UnsafeURL, check_url
from codex32.plugins.errors import ConfigInvalid, PluginError, scrubbed, scrubbed_text
from codex32.plugins.interfaces import Plugin, with_defaults
from codex32.plugins.manager import LoadedPlugin, Registration
from codex32.services import audit

MASK = "********"
# What a member who cannot manage the providers reads for a plugin's load error.
LOAD_ERROR_HIDDEN = "failed to load (a workspace admin sees why)"


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


def installed(kind: str, plugin_id: str) -> Registration:
    """The installed plugin ``plugin_id`` of ``kind``; 404 when the kind or the plugin is not."""
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
    chosen = workspace_settings.get("defaults")
    for candidate in (chosen.get(kind) if isinstance(chosen, dict) else None,
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
        plugins += [unavailable(row, principal)
                    for (row_kind, plugin_id), row in sorted(rows.items())
                    if row_kind == kind and runtime.current().plugins.get(kind, plugin_id) is None]
        kinds.append({"kind": kind, "default": default_id(kind, settings),
                      "fallback": list(settings.get("llm_fallback") or []) if kind == "llm"
                      else [], "plugins": plugins})
    return kinds


def shown_load_error(error: str, principal: Principal) -> str:
    """A plugin's load error as ``principal`` may read it: scrubbed of secrets and folders for
    whoever manages the workspace's providers; only that it failed for everyone else (the
    text is the platform's, the same in every workspace)."""
    return scrubbed_text(error) if principal.can(Permission.MANAGE_PROVIDERS) \
        else LOAD_ERROR_HIDDEN


def loaded_plugins(principal: Principal) -> list[LoadedPlugin]:
    """Every loaded entry point, by name, with its load error as ``principal`` may read it."""
    return [dataclasses.replace(info, error=shown_load_error(info.error, principal))
            if info.error else info
            for info in sorted(runtime.current().plugins.plugins.values(),
                               key=lambda info: info.name)]


def unavailable(row: ProviderConfig, principal: Principal) -> dict[str, Any]:
    """How the API shows a saved configuration whose plugin is not loaded: kept, marked
    unavailable, with the load error of the entry point that provided it (when known) as
    ``principal`` may read it (:func:`shown_load_error`)."""
    # Rows saved before the entry point was recorded: the one named like the plugin id.
    failure = runtime.current().plugins.failure(row.plugin or row.plugin_id)
    why = "no installed plugin provides it any more"
    if failure:
        error = shown_load_error(failure["error"] or "", principal)
        failure = {**failure, "error": error}
        why = f"plugin {failure['name']} " + (
            error if error == LOAD_ERROR_HIDDEN else f"failed to load: {error}")
    detail = f"{row.kind} '{row.plugin_id}' is unavailable: {why}"
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
    """Store the workspace's configuration of a plugin; ``None`` for a secret removes it.

    The configuration it has already (secrets compared decrypted) is no mutation: no new
    version or generation (so no rebuild of its cached instances), no audit row. A change's
    audit row lists only what changed: ``config`` and ``plugin`` before and after, the names
    of the secrets whose value changed (never a value), and the new version."""
    registration = installed(kind, plugin_id)
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
    before, unreadable = _held(row, registration, secrets)
    stored = {**before, **{name: value for name, value in secrets.items() if value is not None}}
    for name in [name for name, value in secrets.items() if value is None]:
        stored.pop(name, None)
    _check_constructible(cls, full_config, stored)
    created = row is None
    if row is None:
        row = ProviderConfig(workspace_id=principal.workspace_id, kind=kind,
                             plugin_id=plugin_id, version=0)
        session.add(row)
    recorded = audit.apply_changes(row, {"config": config, "plugin": registration.plugin})
    changed = sorted(name for name in stored.keys() | before.keys()
                     if stored.get(name) != before.get(name))
    if not created and not recorded and not changed and not unreadable:
        return masked(row) or {}  # the configuration it has: no new generation, no audit
    if created:  # recorded whole, as it is now
        recorded = {"config": config}
    if changed or created or unreadable:
        row.secrets = box.seal(stored) if stored else None
        row.secret_names = sorted(stored)
        recorded.update({"secrets_set": sorted(stored), "secrets_changed": changed})
    row.version = (row.version or 0) + 1
    row.generation = uuid.uuid4()
    row.updated_by = principal.user_id
    row.updated_at = datetime.now(UTC)
    recorded["version"] = row.version
    audit.record(session, principal, "provider.update", "provider", f"{kind}/{plugin_id}",
                 recorded)
    session.flush()
    return masked(row) or {}


def opened_secrets(row: ProviderConfig | None, registration: Registration) -> dict[str, Any]:
    """The configuration's secrets, decrypted for the plugin ``registration`` names. A 409
    saying how to mend it (the request fails closed, and the next one as well until they are
    set again) when no configured key opens them, or when the configuration was saved with
    another plugin than the one now providing its id: its secrets are never handed to
    another distribution's code."""
    kind, plugin_id = registration.kind, registration.cls.id
    again = (f"set them again ({', '.join(row.secret_names or [])}) with "
             f"PUT /api/v1/providers/{kind}/{plugin_id}" if row else "")
    if row is not None and row.plugin and row.plugin != registration.plugin:
        raise Conflict(f"{kind} '{plugin_id}' was configured with plugin '{row.plugin}' and "
                       f"plugin '{registration.plugin}' provides it now: its saved secrets "
                       f"are kept from the newcomer; {again} to use it")
    try:
        return runtime.current().box.open(row.secrets if row else None)
    except SecretsUndecryptable as exc:
        raise Conflict(f"the secrets saved for {kind} '{plugin_id}' cannot be decrypted with "
                       f"the configured CODEX32_SECRETS_KEYS: {again}, or have the operator "
                       "add the key they were saved under") from exc


def _held(row: ProviderConfig | None, registration: Registration,
          given: dict[str, str | None]) -> tuple[dict[str, Any], bool]:
    """The secrets ``row`` holds, and whether :func:`opened_secrets` refuses them (no key opens
    them, or another plugin saved them): then they count as none when the request sets (or
    removes) every one of them, and the request fails closed otherwise (a save must neither
    drop secrets it was not given nor hand them to another plugin)."""
    try:
        return opened_secrets(row, registration), False
    except Conflict:
        if row is not None and set(row.secret_names or []) <= set(given):
            return {}, True
        raise


def _check_constructible(cls: type[Plugin], config: dict[str, Any],
                         secrets: dict[str, str]) -> None:
    """Let the plugin refuse a configuration its schema cannot express."""
    try:
        cls(config, secrets).close()
    except ConfigInvalid as exc:
        scrubbed(exc, secrets.values())
        raise Invalid(f"invalid configuration for {cls.kind} '{cls.id}': {exc}",
                      errors={"json": {"config": exc.errors or {"config": [str(exc)]}}}) from exc
    except PluginError as exc:
        raise from_plugin_error(scrubbed(exc, secrets.values()), cls.id) from exc
    except Exception as exc:  # a plugin's own bug: its type only, the message may quote
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


def rotate_secrets(session: Session) -> tuple[int, list[str]]:
    """Re-encrypt every provider secret under the newest key, in the session's transaction
    (which must see every workspace; the caller commits, or rolls back when any row is left).

    Returns how many were re-encrypted and the rows no configured key opens.
    """
    rows = session.execute(select(ProviderConfig).where(ProviderConfig.secrets.is_not(None))
                           ).scalars().all()
    return len(rows), runtime.current().box.rotate_each(
        rows, "secrets", lambda row: f"{row.workspace_id}/{row.kind}/{row.plugin_id}")
