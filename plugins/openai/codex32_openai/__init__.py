"""Codex-32 plugin: OpenAI, and any OpenAI-compatible server, as an LLM provider and an embedder.

Listed under the ``codex32`` entry-point group; the hooks below are all the core sees of it.
"""

from __future__ import annotations

from collections.abc import Callable

from codex32.plugins.api import hookimpl
from codex32_openai.embedder import OpenAIEmbedder
from codex32_openai.provider import OpenAIProvider

__all__ = ["OpenAIEmbedder", "OpenAIProvider"]
__version__ = "0.1.0"


@hookimpl
def register_llm_providers(register: Callable[[type], None]) -> None:
    """Offer :class:`OpenAIProvider` (id ``openai``)."""
    register(OpenAIProvider)


@hookimpl
def register_embedders(register: Callable[[type], None]) -> None:
    """Offer :class:`OpenAIEmbedder` (id ``openai``)."""
    register(OpenAIEmbedder)
