"""The distribution is found and registered the way the core finds third-party plugins."""

from __future__ import annotations

import importlib.metadata

import codex32_openai
import pluggy
from codex32_openai import OpenAIEmbedder, OpenAIProvider

from codex32.plugins import hookspecs


def test_entry_point_is_listed_in_the_codex32_group():
    entry_points = importlib.metadata.entry_points(group="codex32")

    assert entry_points["openai"].value == "codex32_openai"
    assert entry_points["openai"].load() is codex32_openai


def test_hooks_register_the_provider_and_the_embedder():
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(codex32_openai)
    manager.check_pending()
    providers: list[type] = []
    embedders: list[type] = []

    manager.hook.register_llm_providers(register=providers.append)
    manager.hook.register_embedders(register=embedders.append)

    assert providers == [OpenAIProvider]
    assert embedders == [OpenAIEmbedder]
