"""The API documentation pages' scripts and styles, served from installed packages.

flask-smorest renders ``/api/docs`` (Swagger UI) and ``/api/redoc`` (ReDoc); by default they
load their bundles from a CDN, so the docs fail offline. Here the bundles come from two
packages that ship them: ``flask-swagger-ui`` (Swagger UI's dist files, released with each
Swagger UI version) and ``openapi-ui-bundles`` (``redoc.standalone.js``). Only their files are
used, not their views. Nothing here needs a token: the OpenAPI document is public too.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from flask import Flask, Response, send_from_directory

SWAGGER_UI_ASSETS = "/api/docs/assets/"
REDOC_ASSETS = "/api/redoc/assets/"
MAX_AGE_SECONDS = 24 * 3600


def _folder(package: str, *parts: str) -> Path:
    return Path(str(files(package).joinpath(*parts)))


FOLDERS = {"swagger_ui": _folder("flask_swagger_ui", "dist"),
           "redoc": _folder("openapi_ui_bundles", "redoc", "vendor")}


def flask_config() -> dict[str, Any]:
    """flask-smorest's settings pointing the docs pages at the local bundles."""
    return {
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_ASSETS,
        # Swagger UI would send the OpenAPI document to an online validator for its badge.
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
        "OPENAPI_REDOC_PATH": "/redoc",
        "OPENAPI_REDOC_URL": f"{REDOC_ASSETS}redoc.standalone.js",
    }


def init_app(app: Flask) -> None:
    """Serve the bundles' files under ``/api/docs/assets/`` and ``/api/redoc/assets/``."""

    def asset(bundle: str):
        def view(filename: str) -> Response:
            # send_from_directory refuses paths that leave the folder (404).
            return send_from_directory(FOLDERS[bundle], filename, max_age=MAX_AGE_SECONDS)

        view.__name__ = f"{bundle}_asset"
        return view

    app.add_url_rule(f"{SWAGGER_UI_ASSETS}<path:filename>", "docs_swagger_ui_asset",
                     asset("swagger_ui"), methods=["GET"])
    app.add_url_rule(f"{REDOC_ASSETS}<path:filename>", "docs_redoc_asset", asset("redoc"),
                     methods=["GET"])
