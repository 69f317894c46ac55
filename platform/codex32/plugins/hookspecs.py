"""The plugin contract: every hook Codex-32 calls, in one page.

A plugin is a module (or object) listed under the ``codex32`` entry-point group. It implements
any of these hooks with ``@hookimpl`` (from :mod:`codex32.plugins.api`).

**Registry hooks**, one per kind of plugin, are called once at start-up with a ``register``
callback; call ``register(cls)`` once for each class you provide. They are not written out
here: each is declared with its kind's base class (:mod:`codex32.plugins.kinds`) and named
after the kind (``register_notifiers``, ``register_llm_providers``; docs/plugins.md lists
them all). The class
declares ``id``, ``config_schema``, ``secrets`` and ``capabilities`` (see
:mod:`codex32.plugins.interfaces`); the core builds instances per workspace.

The other hooks follow. Nothing here may import Flask or the database.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "codex32"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def startup(app: Any) -> None:
    """Called once in every process (web, worker, CLI) before it serves; ``app`` is the Flask
    app in the web process, None in the worker and the CLI (``codex32.runtime.current()`` is
    the process's runtime while the hook runs).

    Use it for process-wide setup (start a client pool, check a binary exists). It must not
    block for long and must not open tenant data: no workspace is bound at start-up.
    """
