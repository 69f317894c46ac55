"""How a setting's text from the environment is read: booleans, numbers, lists, ``kind=id``
pairs, ``LOW-HIGH`` ranges, requirement names and the OIDC provider list; and the development
keys generated into the data folder. A value that does not read is a :class:`ConfigError`
naming its variable and what was expected. :mod:`codex32.config` hands these the environment
it read; nothing here reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class ConfigError(RuntimeError):
    """The environment describes a configuration the platform refuses to run with."""


OIDC_PROVIDER_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


@dataclass(frozen=True)
class OIDCProviderSetting:
    """A platform-wide OpenID Connect provider from ``CODEX32_OIDC_PROVIDERS``."""

    id: str
    name: str
    discovery_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile")


def oidc_providers(value: str | None) -> tuple[OIDCProviderSetting, ...]:
    """``CODEX32_OIDC_PROVIDERS``: a JSON list of ``{"id", "name", "discovery_url",
    "client_id", "client_secret"?, "scopes"?}`` objects."""
    if not value or not value.strip():
        return ()
    try:
        entries = json.loads(value)
    except ValueError as exc:
        raise ConfigError("CODEX32_OIDC_PROVIDERS must be a JSON list of objects") from exc
    if not isinstance(entries, list):
        raise ConfigError("CODEX32_OIDC_PROVIDERS must be a JSON list of objects")
    providers: list[OIDCProviderSetting] = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - {
                "id", "name", "discovery_url", "client_id", "client_secret", "scopes"}:
            raise ConfigError("CODEX32_OIDC_PROVIDERS: each provider is an object with id, "
                              "name, discovery_url, client_id, client_secret and scopes only")
        ident, url, client = entry.get("id"), entry.get("discovery_url"), entry.get("client_id")
        if not isinstance(ident, str) or not OIDC_PROVIDER_ID.match(ident):
            raise ConfigError(f"CODEX32_OIDC_PROVIDERS: id {ident!r} must be lowercase "
                              "letters, digits and inner hyphens (at most 40)")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ConfigError(f"CODEX32_OIDC_PROVIDERS: {ident}: discovery_url must be an "
                              "http(s) URL")
        if not isinstance(client, str) or not client:
            raise ConfigError(f"CODEX32_OIDC_PROVIDERS: {ident}: client_id is required")
        scopes = entry.get("scopes") or ["openid", "email", "profile"]
        if not isinstance(scopes, list) or "openid" not in scopes or not all(
                isinstance(scope, str) and scope.isprintable() and " " not in scope
                for scope in scopes):
            raise ConfigError(f"CODEX32_OIDC_PROVIDERS: {ident}: scopes must be a list of "
                              "strings including openid")
        if any(known.id == ident for known in providers):
            raise ConfigError(f"CODEX32_OIDC_PROVIDERS: id {ident!r} appears twice")
        providers.append(OIDCProviderSetting(
            id=ident, name=str(entry.get("name") or ident), discovery_url=url,
            client_id=client, client_secret=entry.get("client_secret") or None,
            scopes=tuple(scopes)))
    return tuple(providers)


def boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``env[name]`` as a boolean (1/0, true/false, yes/no, on/off), ``default`` when unset."""
    value = env.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ConfigError(f"{name}: expected a boolean, got {value!r}")


def integer(env: Mapping[str, str], name: str, default: int) -> int:
    return _parsed(env, name, default, int, "an integer")


def number(env: Mapping[str, str], name: str, default: float) -> float:
    return _parsed(env, name, default, float, "a number")


def _parsed(env: Mapping[str, str], name: str, default: Any, kind: Callable[[str], Any],
            expected: str) -> Any:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected {expected}, got {value!r}") from exc


def pairs(env: Mapping[str, str], name: str) -> dict[str, str]:
    """``kind=id,kind=id`` as a dict."""
    pairs: dict[str, str] = {}
    for part in items(env.get(name)):
        kind, sep, plugin_id = part.partition("=")
        if not sep or not kind.strip() or not plugin_id.strip():
            raise ConfigError(f"{name}: expected kind=id, got {part!r}")
        pairs[kind.strip()] = plugin_id.strip()
    return pairs


def int_range(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``LOW-HIGH`` as two integers."""
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    low, sep, high = value.partition("-")
    try:
        if not sep:
            raise ValueError(value)
        return int(low), int(high)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected LOW-HIGH, got {value!r}") from exc


def items(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def is_allowlist_entry(text: str) -> bool:
    """Whether ``text`` is ``name`` or ``name<specifier>`` (no extras, URL or marker)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        found = Requirement(text)
    except InvalidRequirement:
        return False
    return not (found.extras or found.url or found.marker)


def persisted_secret(data_dir: Path, name: str) -> str:
    """A generated development key, read from the data folder, created there (mode 0600) the
    first time."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"{name}.txt"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


