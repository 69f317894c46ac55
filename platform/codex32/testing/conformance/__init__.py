"""Conformance suites for plugin authors: one base class per kind, subclassed in a test module.

    from codex32.testing import ErrorCase, NotifierConformance

    class TestAcmeNotifier(NotifierConformance):
        plugin_class = AcmeNotifier
        entry_point = "acme"                               # as in your pyproject.toml
        plugin_secrets = {"token": "acme-LEAKCHECK-4f2a9c"}  # distinctive, to spot leaks

        @pytest.fixture(autouse=True)
        def backend(self, receiver):                       # your fixture: a local stand-in
            self.receiver = receiver
            self.plugin_config = {"url": receiver.url}

        def delivered(self, notification):
            return any(notification.id in r.body.decode() for r in self.receiver.requests)

        def error_cases(self):
            return [ErrorCase("bad token", ProviderAuthError,
                              arrange=lambda: self.receiver.answer(401))]

Every check is a test method named for the behaviour it demands; its docstring says what it
checks and how to give it what it needs. The suites hold no servers and open no connections:
the author's fixtures provide the backend, the suites only build instances and call them.

A module per kind (:mod:`.llm`, :mod:`.embedders`, :mod:`.vector_stores`,
:mod:`.code_generators`, :mod:`.notifiers`, :mod:`.executors`) on :mod:`.base` (every
plugin's checks) and :mod:`.cases` (``ErrorCase`` and helpers); :mod:`.routed` holds what the
gateway's router reads, for LLM providers and embedders. Import from here or from
``codex32.testing``. Importing this package loads no suite: each name is imported from its
module (:data:`HOMES`) when first asked for, so ``codex32.testing`` can list them cheaply.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name and the module that defines it.
HOMES: dict[str, str] = {
    "PluginConformance": "codex32.testing.conformance.base",
    "WORKSPACE_A": "codex32.testing.conformance.cases",
    "WORKSPACE_B": "codex32.testing.conformance.cases",
    "ErrorCase": "codex32.testing.conformance.cases",
    "registered_classes": "codex32.testing.conformance.cases",
    "wrong_type_configs": "codex32.testing.conformance.cases",
    "CodeGeneratorConformance": "codex32.testing.conformance.code_generators",
    "EmbedderConformance": "codex32.testing.conformance.embedders",
    "ExecutorConformance": "codex32.testing.conformance.executors",
    "LLMProviderConformance": "codex32.testing.conformance.llm",
    "check_usage": "codex32.testing.conformance.llm",
    "NotifierConformance": "codex32.testing.conformance.notifiers",
    "RoutedConformance": "codex32.testing.conformance.routed",
    "scripted_failures": "codex32.testing.conformance.routed",
    "VectorStoreConformance": "codex32.testing.conformance.vector_stores",
    "with_defaults": "codex32.plugins.interfaces",
}

__all__ = sorted(HOMES)


def __getattr__(name: str) -> Any:
    """A suite or helper, imported from its module when first asked for."""
    home = HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
