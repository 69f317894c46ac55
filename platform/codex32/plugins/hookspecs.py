"""The plugin contract: every hook Codex-32 calls, in one page.

A plugin is a module (or object) listed under the ``codex32`` entry-point group. It implements
any of these hooks with ``@codex32.plugins.hookimpl``. Registry hooks are called once at start-up
with a ``register`` callback; call ``register(cls)`` once for each class you provide. The class
declares ``id``, ``config_schema``, ``secrets`` and ``capabilities`` (see
:mod:`codex32.plugins.interfaces`); the core builds instances per workspace.

Nothing here may import Flask or the database.
"""

from __future__ import annotations

import pluggy

PROJECT = "codex32"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_llm_providers(register):
    """Called once at start-up. Call ``register(cls)`` for each :class:`LLMProvider` subclass."""


@hookspec
def register_embedders(register):
    """Called once at start-up. Call ``register(cls)`` for each :class:`Embedder` subclass."""


@hookspec
def register_vector_stores(register):
    """Called once at start-up. Call ``register(cls)`` for each :class:`VectorStore` subclass."""


@hookspec
def register_code_generators(register):
    """Called once at start-up. Call ``register(cls)`` for each :class:`CodeGenerator` subclass."""


@hookspec
def register_notifiers(register):
    """Called once at start-up. Call ``register(cls)`` for each :class:`Notifier` subclass."""


@hookspec
def register_executors(register):
    """Called once at start-up. Call ``register(cls)`` for each :class:`Executor` subclass."""


@hookspec
def startup(app):
    """Called once in every process (web, worker, CLI) before it serves; ``app`` is the Flask
    app in the web process, None in the worker and the CLI (``codex32.runtime.current()`` is
    the process's runtime while the hook runs).

    Use it for process-wide setup (start a client pool, check a binary exists). It must not
    block for long and must not open tenant data: no workspace is bound at start-up.
    """
