"""Plugin system: hook contract, interfaces per kind, loading and per-workspace instances."""

from codex32.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
