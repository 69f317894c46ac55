"""The ``codex32`` command line."""
