"""The per-process platform state the app factory builds and stores on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask

from codex32.config import Settings
from codex32.ratelimit import RateLimiter

if TYPE_CHECKING:
    from codex32.plugins.manager import PluginManager

KEY = "codex32"


@dataclass
class PlatformState:
    """Settings, the rate limiter, the plugin manager and start-up findings of one process."""

    settings: Settings
    limiter: RateLimiter
    plugins: PluginManager | None = None
    warnings: list[str] = field(default_factory=list)


def platform_state(app: Flask) -> PlatformState:
    """The state ``create_app`` stored on ``app``."""
    return app.extensions[KEY]
