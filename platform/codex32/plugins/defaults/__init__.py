"""The core's offline defaults, registered through the same hooks as any third-party plugin.

The entry point ``builtin = codex32.plugins.defaults`` registers this module: it only re-exports
each default's hookimpl. Nothing here needs a network, an API key or a model download, and
nothing in the core refers to these plugins by name.
"""

from codex32.plugins.defaults.builtin_llm import register_llm_providers
from codex32.plugins.defaults.hashing_embedder import register_embedders
from codex32.plugins.defaults.log_notifier import register_notifiers
from codex32.plugins.defaults.subprocess_executor import register_executors
from codex32.plugins.defaults.template_generator import register_code_generators

__all__ = [
    "register_code_generators",
    "register_embedders",
    "register_executors",
    "register_llm_providers",
    "register_notifiers",
]
