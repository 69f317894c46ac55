"""The flask-smorest Blueprint every Codex-32 endpoint is declared on."""

from __future__ import annotations

from typing import Any

import flask_smorest


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with argument schemas instantiated once per route.

    webargs instantiates a schema class on every request it parses (marshmallow deep-copies
    the declared fields each time); an instance given at declaration is reused. Schemas keep
    no state between loads, so one instance serves every request.
    """

    def arguments(self, schema: Any, *args: Any, **kwargs: Any):
        return super().arguments(schema() if isinstance(schema, type) else schema,
                                 *args, **kwargs)
