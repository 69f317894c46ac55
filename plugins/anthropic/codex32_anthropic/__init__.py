"""Codex-32 plugin: Anthropic's Messages API as an LLM provider.

Listed under the ``codex32`` entry-point group; the hook below is all the core sees of it.
"""

from __future__ import annotations

from collections.abc import Callable

from codex32.plugins.api import hookimpl
from codex32_anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
__version__ = "0.1.0"


@hookimpl
def register_llm_providers(register: Callable[[type], None]) -> None:
    """Offer :class:`AnthropicProvider` (id ``anthropic``)."""
    register(AnthropicProvider)
