"""The web console: server-rendered pages under ``/app`` for people in a browser.

A layer beside :mod:`codex32.api`: console → services → db. Its views call the same services
as the REST API with the same principal, so the console holds no logic the API lacks, and the
same permissions, row-level security binding and audit apply. What it adds is presentation
and the browser session (:mod:`codex32.console.session`). docs/console.md says how to add a page.
"""

from __future__ import annotations

from flask import Flask

from codex32.console import (
    admin_pages,
    auth_pages,
    bot_pages,
    builder_pages,
    oidc_pages,
    runs_pages,
    usage_pages,
)
from codex32.console.blueprint import blp

PAGE_MODULES = (auth_pages, oidc_pages, builder_pages, bot_pages, runs_pages, usage_pages,
                admin_pages)


def init_app(app: Flask) -> None:
    """Register the console's pages (every module in :data:`PAGE_MODULES` declared them on
    :data:`blp` when imported)."""
    app.register_blueprint(blp)
