"""GraphQL beside REST: ``/api/graphql`` on the same services, sessions and workspace binding.

Layout: :mod:`.schema` (limits), :mod:`.queries` and :mod:`.mutations` (the roots),
:mod:`.types`, :mod:`.pagination`, :mod:`.loaders` (batching), :mod:`.limits` (cost),
:mod:`.executor` (a savepoint per mutation field), :mod:`.errors`, :mod:`.context`,
:mod:`.view`. docs/graphql.md is the client's guide.
"""

from __future__ import annotations

from flask import Flask

from codex32.api import transaction
from codex32.api.graphql import schema
from codex32.api.graphql.view import GraphQLEndpoint
from codex32.config import Settings

PATH = "/api/graphql"


def init_app(app: Flask, settings: Settings) -> None:
    """Serve the schema at :data:`PATH` (POST, JSON), with the limits of ``settings``."""
    view = GraphQLEndpoint.as_view("graphql", schema=schema.build(settings), graphql_ide=None,
                                   allow_queries_via_get=False)
    app.add_url_rule(PATH, view_func=transaction.owned(view), methods=["POST"])
