"""A bot's execution settings: defaults, the maxima that bound them, the limits a run gets.

Three layers bound each setting: the platform's maxima (operator, :class:`~codex32.config.
Settings`), the workspace's (``workspace.settings["execution"]``; they can only lower the
platform's) and the bot's own value (``bot.settings``). The API refuses a bot setting above
the maxima (422: the platform's in the request schema, the workspace's here). A run gets its
bot's values clamped to the maxima of that moment, so lowering a maximum applies to bots
configured before. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from sqlalchemy import select
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.config import Settings
from codex32.db.models import Workspace
from codex32.errors import Invalid
from codex32.plugins.interfaces import ExecutionLimits

DEFAULTS: dict[str, Any] = {"timeout_seconds": 30, "cpu_seconds": None, "memory_mb": 256,
                            "max_retries": 0, "retry_backoff_seconds": 10, "network": False,
                            "notifications": []}
NOTIFY_ON = ("succeeded", "failed", "timed_out")
# A setting's name -> the workspace maximum that bounds it.
WORKSPACE_KEYS = {"timeout_seconds": "max_timeout_seconds", "cpu_seconds": "max_timeout_seconds",
                  "memory_mb": "max_memory_mb", "max_retries": "max_retries",
                  "retry_backoff_seconds": "max_retry_backoff_seconds"}


def execution_of(workspace_settings: dict[str, Any]) -> dict[str, Any]:
    """The workspace's stored ``execution`` maxima; empty when the row holds no object (saved
    before the API checked it)."""
    found = workspace_settings.get("execution")
    return found if isinstance(found, dict) else {}


def is_count(value: object) -> TypeGuard[int]:
    """Whether a stored maximum is a whole number (JSON's true is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Maxima:
    """The largest value each setting may take (``network``: whether it may be turned on)."""

    timeout_seconds: int
    memory_mb: int
    max_retries: int
    retry_backoff_seconds: int
    network: bool

    @classmethod
    def of_platform(cls, settings: Settings) -> Maxima:
        return cls(timeout_seconds=settings.max_timeout_seconds,
                   memory_mb=settings.max_memory_mb, max_retries=settings.max_retries,
                   retry_backoff_seconds=settings.max_retry_backoff_seconds,
                   network=settings.allow_bot_network)

    def lowered_by(self, workspace_settings: dict[str, Any]) -> Maxima:
        """These maxima, lowered by a workspace's ``execution`` settings where they are lower."""
        own = execution_of(workspace_settings)

        def lower(current: int, key: str) -> int:
            value = own.get(key)
            return min(current, value) if is_count(value) else current

        return Maxima(timeout_seconds=lower(self.timeout_seconds, "max_timeout_seconds"),
                      memory_mb=lower(self.memory_mb, "max_memory_mb"),
                      max_retries=lower(self.max_retries, "max_retries"),
                      retry_backoff_seconds=lower(self.retry_backoff_seconds,
                                                  "max_retry_backoff_seconds"),
                      # Only an explicit true (or none) keeps it: a stored "no" is no "yes".
                      network=self.network and own.get("allow_network", True) is True)

    def bound(self, name: str) -> int | bool:
        return getattr(self, "timeout_seconds" if name == "cpu_seconds" else name)


@dataclass(frozen=True)
class RunSettings:
    """What one run of a bot gets: its settings with defaults, clamped to the maxima."""

    timeout_seconds: int
    cpu_seconds: int | None
    memory_mb: int
    max_retries: int
    retry_backoff_seconds: int
    network: bool
    notifications: tuple[dict[str, Any], ...]
    backoff_cap: int = 3600

    def limits(self, max_log_bytes: int) -> ExecutionLimits:
        """The executor's resource bounds for this run."""
        return ExecutionLimits(timeout_seconds=float(self.timeout_seconds),
                               cpu_seconds=None if self.cpu_seconds is None
                               else float(self.cpu_seconds),
                               memory_mb=self.memory_mb, network=self.network,
                               max_output_bytes=max_log_bytes)

    def backoff(self, attempt: int) -> int:
        """Seconds before the retry of attempt ``attempt`` (1-based): doubling each time, up
        to the maximum backoff."""
        return min(self.retry_backoff_seconds * 2 ** max(attempt - 1, 0), self.backoff_cap)


def effective(bot_settings: dict[str, Any], maxima: Maxima) -> RunSettings:
    """The bot's settings with defaults filled in, each clamped to ``maxima``."""
    merged = {**DEFAULTS, **{k: v for k, v in bot_settings.items() if v is not None}}

    def clamp(name: str) -> int:
        return max(0, min(int(merged[name]), int(maxima.bound(name))))

    cpu = merged.get("cpu_seconds")
    return RunSettings(
        timeout_seconds=max(1, clamp("timeout_seconds")),
        cpu_seconds=None if cpu is None else max(1, clamp("cpu_seconds")),
        memory_mb=clamp("memory_mb"), max_retries=clamp("max_retries"),
        retry_backoff_seconds=clamp("retry_backoff_seconds"),
        network=bool(merged["network"]) and maxima.network,
        notifications=tuple(rule for rule in merged.get("notifications") or []
                            if isinstance(rule, dict)),
        backoff_cap=max(int(maxima.retry_backoff_seconds), 0))


def check(session: Session, bot_settings: dict[str, Any]) -> None:
    """422 unless ``bot_settings`` fits the bound workspace's maxima and names real notifiers.

    The platform's maxima are the request schema's business; this adds the workspace's.
    """
    workspace_settings = session.execute(select(Workspace.settings)).scalar() or {}
    own = execution_of(workspace_settings)
    errors: dict[str, list[str]] = {}
    for name, key in WORKSPACE_KEYS.items():
        value, bound = bot_settings.get(name), own.get(key)
        if isinstance(value, int) and is_count(bound) and value > bound:
            errors[name] = [f"must be at most {bound} (this workspace's {key})"]
    if bot_settings.get("network") and own.get("allow_network", True) is not True:
        errors["network"] = ["this workspace does not allow bots on the network"]
    for index, rule in enumerate(bot_settings.get("notifications") or []):
        if runtime.current().plugins.get("notifier", rule["notifier"]) is None:
            errors[f"notifications.{index}.notifier"] = [
                f"no notifier plugin '{rule['notifier']}' is installed"]
    if errors:
        raise Invalid("the bot's settings exceed what this workspace allows",
                      errors={"json": {"settings": errors}})
