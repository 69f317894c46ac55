"""Plugin system: hook contract, kinds and interfaces, loading and per-workspace instances.

Plugins import from :mod:`codex32.plugins.api` alone. Importing any module of this package
imports the interfaces first, so every kind their base classes declare is known
(:mod:`codex32.plugins.kinds`).
"""

from codex32.plugins import interfaces as interfaces
from codex32.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec", "interfaces"]
