"""Fixtures the ops tests share: a port that accepts connections and never answers (a hung
database, a hung upstream)."""

from codex32.testing.receivers import silent_port  # noqa: F401 - a fixture
