"""The plugin author's test kit; pytest loads it in every run (the ``pytest11`` entry point).

- Conformance suites, one per kind, to subclass in a test module (the package
  :mod:`.conformance`, a module per kind):
  ``from codex32.testing import NotifierConformance``.
- The fixtures ``fake_openai`` and ``fake_anthropic``: local fakes of those APIs
  (:mod:`.fake_openai`, :mod:`.fake_anthropic`), registered here once; listing the modules in
  ``pytest_plugins`` again is harmless, pytest registers a module once.
- ``ScriptedServer`` and ``ScriptedResponse``: the fakes' protocol-neutral HTTP server, to
  stand in for any HTTP backend (record requests, script answers, errors and delays).

Importing this package must stay cheap and start nothing: the suites (and jsonschema) load on
first use, and the fakes' fixtures start a server only in the tests that ask for them.
"""

from __future__ import annotations

from typing import Any

import pytest

# Before the suites are imported, so their failing asserts explain themselves.
pytest.register_assert_rewrite("codex32.testing.conformance", "codex32.testing.outbound")

pytest_plugins = ("codex32.testing.fake_openai", "codex32.testing.fake_anthropic",
                  "codex32.testing.receivers")

from codex32.testing import conformance  # noqa: E402 (cheap: it loads no suite)

_FROM_FAKES = frozenset({"ScriptedResponse", "ScriptedServer"})

__all__ = sorted([*conformance.__all__, *_FROM_FAKES, "UPSTREAM_MARKER"])


def __getattr__(name: str) -> Any:
    """The suites (and the scripted server), imported when first asked for."""
    if name in _FROM_FAKES:
        from codex32.testing import fake_openai

        return getattr(fake_openai, name)
    if name == "UPSTREAM_MARKER":
        from codex32.testing import outbound

        return outbound.UPSTREAM_MARKER
    if name in conformance.HOMES:
        return getattr(conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
