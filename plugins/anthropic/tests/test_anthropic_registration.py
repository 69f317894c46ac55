"""The distribution is found and registered the way the core finds third-party plugins."""

from __future__ import annotations

import importlib.metadata

import codex32_anthropic
from codex32_anthropic import AnthropicProvider

from codex32.testing import registered_classes


def test_entry_point_is_listed_in_the_codex32_group():
    entry_points = importlib.metadata.entry_points(group="codex32")

    assert entry_points["anthropic"].value == "codex32_anthropic"
    assert entry_points["anthropic"].load() is codex32_anthropic


def test_hook_registers_the_provider():
    assert registered_classes(codex32_anthropic) == {"llm": [AnthropicProvider]}
