"""What every suite shares: the error cases an author provokes, the helpers that derive
invalid settings and read registrations, and the checks' small tools. No test here.
"""

from __future__ import annotations

import inspect
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from codex32.plugins import kinds
from codex32.plugins.errors import (
    ConfigInvalid,
    PluginError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.plugins.interfaces import (
    Plugin,
)
from codex32.plugins.manager import PluginManager

WORKSPACE_A = "00000000-0000-4000-8000-00000000000a"
WORKSPACE_B = "00000000-0000-4000-8000-00000000000b"

# Ids appear in URLs (/providers/<kind>/<id>) and settings; prefix yours to avoid collisions.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# Values tried, in order, until the schema refuses one for a property.
WRONG_VALUES: tuple[Any, ...] = ("a value of the wrong type", 12345, True, [], {})
UNKNOWN_SETTING = "__not_a_setting__"
DEFAULT_TIMEOUT_BOUND = 5.0
MIN_MARKER_LENGTH = 8
# From the most specific down: the first match is how the API answers (see codex32.errors).
ERROR_TYPES: tuple[type[PluginError], ...] = (ConfigInvalid, ProviderAuthError,
                                              ProviderRateLimited, ProviderTimeout,
                                              ProviderError, PluginError)


@dataclass(frozen=True)
class ErrorCase:
    """A failure to provoke and the codex32 error it must come out as.

    ``arrange`` scripts the backend first (a fake server's next answer is a 429); ``config``
    updates the working configuration and ``secrets`` replaces the working secrets (None keeps
    them); ``call`` is what to run on the instance (None: the suite's :meth:`exercise`).
    ``retry_after`` is the value a :class:`ProviderRateLimited` must carry; ``within`` bounds
    the seconds the call may take. ``kind`` and ``status`` are the ``ProviderError.kind`` (one
    of ``codex32.plugins.errors.ERROR_KINDS``: what the gateway's router reads) and upstream
    HTTP status the error must carry (None: not checked).
    """

    name: str
    expected: type[PluginError]
    arrange: Callable[[], object] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] | None = None
    call: Callable[[Any], object] | None = None
    retry_after: float | None = None
    within: float | None = None
    kind: str | None = None
    status: int | None = None


def wrong_type_configs(schema: dict[str, Any],
                       base: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Invalid settings derived from ``schema``: each property set to a value it refuses, and
    an unknown property when ``additionalProperties`` is false.

    ``base`` is a valid object the values are tried in (required properties filled in).
    """
    base = base or {}
    validator = Draft202012Validator(schema)
    examples = []
    for name in schema.get("properties") or {}:
        for value in WRONG_VALUES:
            errors = validator.iter_errors({**base, name: value})
            if any(list(error.absolute_path)[:1] == [name] for error in errors):
                examples.append({name: value})
                break
    if schema.get("additionalProperties") is False:
        examples.append({UNKNOWN_SETTING: 1})
    return examples


def registered_classes(module: Any, name: str | None = None) -> dict[str, list[type[Plugin]]]:
    """What a plugin module registers, per kind, when the core's manager loads it (strict)."""
    manager = PluginManager(strict=True)
    manager.register_module(module, name=name or str(getattr(module, "__name__", "plugin")))
    manager.collect()
    return {kind: [registration.cls for registration in registry.values()]
            for kind, registry in manager.registry.items() if registry}


def _kind(name: str) -> kinds.Kind[Any]:
    declared = kinds.get(name)
    assert declared is not None, f"no kind {name!r} is declared"
    return declared


def _api_type(error: type[PluginError]) -> type[PluginError]:
    """The codex32 error type that decides how the API answers ``error``."""
    return next(kind for kind in ERROR_TYPES if issubclass(error, kind))


def _exception_text(error: BaseException) -> str:
    """What a traceback or an error tracker shows of ``error`` and the exceptions it chains."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 20:
        parts += traceback.format_exception_only(type(current), current)
        parts.append(repr(current.args))
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    return "".join(parts)


def _mutables(value: Any, path: str, found: dict[int, str], depth: int = 0) -> None:
    """Record the mutable containers reachable from ``value`` through containers."""
    if depth > 4:
        return
    if isinstance(value, dict | list | set | bytearray):
        found.setdefault(id(value), path)
    if isinstance(value, dict):
        for key, item in value.items():
            _mutables(item, f"{path}[{key!r}]", found, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _mutables(item, f"{path}[{index}]", found, depth + 1)


def _signature_problem(expected: Callable[..., Any], actual: Callable[..., Any]) -> str | None:
    """Why ``actual`` cannot be called as ``expected`` is documented, or None."""
    want = list(inspect.signature(expected).parameters.values())
    have = list(inspect.signature(actual).parameters.values())
    for index, param in enumerate(want):
        if index >= len(have):
            return f"lacks the parameter {param.name!r}"
        if have[index].kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None  # *args/**kwargs take the rest
        if (have[index].name, have[index].kind) != (param.name, param.kind):
            return f"has {have[index]} where the contract has {param}"
        if param.default is not param.empty and have[index].default is param.empty:
            return f"makes {param.name!r} required; the contract gives it a default"
    for param in have[len(want):]:
        if param.default is param.empty and param.kind not in (param.VAR_POSITIONAL,
                                                               param.VAR_KEYWORD):
            return f"adds the required parameter {param.name!r}; extras need defaults"
    return None


def _poll(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
