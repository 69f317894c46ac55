"""Kinds of plugin: each declared once, by its base class; hooks, registry and defaults follow."""

from __future__ import annotations

import types

import pytest

from codex32.plugins import hookimpl, kinds
from codex32.plugins.interfaces import Plugin
from codex32.plugins.manager import PluginManager, spec_names


@pytest.fixture()
def scratch_kinds(monkeypatch):
    """Kinds declared in a test are forgotten after it."""
    monkeypatch.setattr(kinds, "_declared", dict(kinds._declared))


def test_the_built_in_kinds_and_their_hooks():
    """The hook names are the plugins' contract: renaming one breaks every plugin using it."""
    assert {kind.name: kind.hook for kind in kinds.declared()} == {
        "llm": "register_llm_providers", "embedder": "register_embedders",
        "vector_store": "register_vector_stores", "code_generator": "register_code_generators",
        "notifier": "register_notifiers", "executor": "register_executors"}
    assert {kind.name: kind.default for kind in kinds.declared()} == {
        "llm": "builtin", "embedder": "hashing", "vector_store": "pgvector",
        "code_generator": "template", "notifier": "log", "executor": "subprocess"}


def test_a_kind_declared_in_one_statement_is_discovered(scratch_kinds):
    class Reranker(Plugin, kind="reranker", default="overlap"):
        """Orders passages by relevance to a query."""

        def rerank(self, query: str, passages: list[str]) -> list[str]:
            raise NotImplementedError

    class OverlapReranker(Reranker):
        id = "overlap"

        def rerank(self, query: str, passages: list[str]) -> list[str]:
            words = set(query.split())
            return sorted(passages, key=lambda p: -len(words & set(p.split())))

    @hookimpl
    def register_rerankers(register):
        register(OverlapReranker)

    plugin = types.SimpleNamespace(register_rerankers=register_rerankers)
    manager = PluginManager(strict=True)
    manager.register_module(plugin, "c32test_rerank")
    manager.collect()

    assert Reranker.kind == "reranker" and "register_rerankers" in spec_names()
    assert manager.get("reranker", "overlap").cls is OverlapReranker
    assert manager.plugins["c32test_rerank"].registered == {"reranker": ["overlap"]}
    assert manager.default("reranker") == "overlap"


def test_a_second_kind_with_a_taken_name_or_hook_is_refused(scratch_kinds):
    with pytest.raises(ValueError, match="clashes with kind 'notifier'"):
        class Pager(Plugin, kind="pager", hook="register_notifiers"):
            pass
    with pytest.raises(ValueError, match="clashes with kind 'llm'"):
        class Model(Plugin, kind="llm"):
            pass
