"""The distribution is found and registered the way the core finds third-party plugins."""

from __future__ import annotations

import importlib.metadata

import codex32_openai
from codex32_openai import OpenAIEmbedder, OpenAIProvider

from codex32.testing import registered_classes


def test_entry_point_is_listed_in_the_codex32_group():
    entry_points = importlib.metadata.entry_points(group="codex32")

    assert entry_points["openai"].value == "codex32_openai"
    assert entry_points["openai"].load() is codex32_openai


def test_hooks_register_the_provider_and_the_embedder():
    assert registered_classes(codex32_openai) == {"llm": [OpenAIProvider],
                                                  "embedder": [OpenAIEmbedder]}
