"""Tests of the core's offline default plugins (codex32.plugins.defaults)."""
