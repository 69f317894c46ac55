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
``codex32.testing``.
"""

from __future__ import annotations

from codex32.plugins.interfaces import with_defaults
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import (
    WORKSPACE_A,
    WORKSPACE_B,
    ErrorCase,
    registered_classes,
    wrong_type_configs,
)
from codex32.testing.conformance.code_generators import CodeGeneratorConformance
from codex32.testing.conformance.embedders import EmbedderConformance
from codex32.testing.conformance.executors import ExecutorConformance
from codex32.testing.conformance.llm import LLMProviderConformance, check_usage  # noqa: F401
from codex32.testing.conformance.notifiers import NotifierConformance
from codex32.testing.conformance.routed import RoutedConformance, scripted_failures
from codex32.testing.conformance.vector_stores import VectorStoreConformance

__all__ = [
    "WORKSPACE_A",
    "WORKSPACE_B",
    "CodeGeneratorConformance",
    "EmbedderConformance",
    "ErrorCase",
    "ExecutorConformance",
    "LLMProviderConformance",
    "NotifierConformance",
    "PluginConformance",
    "RoutedConformance",
    "VectorStoreConformance",
    "registered_classes",
    "scripted_failures",
    "with_defaults",
    "wrong_type_configs",
]
