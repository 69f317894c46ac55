"""The application factory: settings, then each extension in order, then routes and checks.

Reading this file top to bottom shows everything a request passes through. The process's
runtime (plugins, instances, checks, …) is built by :mod:`codex32.runtime.bootstrap`, as in the
worker and the CLI, and lives on the app (``app.extensions["codex32"]``).
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SessionInterface, SessionMixin
from flask.testing import FlaskClient
from flask_cors import CORS
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import TestResponse

from codex32 import console
from codex32.api import docs, graphql, json_provider, openapi, openings, v1, v2, versioning
from codex32.api.blueprint import body_limit_of
from codex32.auth import tokens
from codex32.config import Settings
from codex32.db import db, pool, tenancy
from codex32.db.migrate import MIGRATIONS_DIR
from codex32.db.urls import DatabaseUrls, resolve
from codex32.errors import TooLarge, register_error_handlers
from codex32.observability import health, metrics, request_tracing, worker_presence
from codex32.observability.logging import bind_log_context, clear_log_context
from codex32.runtime import KEY, Runtime, bootstrap, heap

log = logging.getLogger(__name__)
request_log = logging.getLogger("codex32.request")

REQUEST_ID_HEADER = "X-Request-ID"


class ServedClient(FlaskClient):
    """The app's test client reads and closes each response, as a WSGI server closes one
    once it is sent: what a view left to run after sending (``call_on_close``) has run when
    a call returns, or, for the LLM gateway's record of an answer, has been handed to the
    process's background thread (a test reading what it writes waits for it:
    ``codex32.runtime.background.wait_idle``). A test that reads a stream as it comes, or
    closes it itself, passes ``buffered=False``."""

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> TestResponse:
        return super().open(*args, buffered=buffered, **kwargs)


def create_app(settings: Settings | None = None, urls: DatabaseUrls | None = None) -> Flask:
    """Build the WSGI app from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    urls = urls or resolve(settings)

    app = Flask("codex32")
    app.test_client_class = ServedClient
    app.config.update(_flask_config(settings, urls))
    app.session_interface = NoCookieSessions()
    json_provider.init_app(app)
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,  # type: ignore[method-assign]
                                x_proto=settings.proxy_hops)

    db.init_app(app)
    with app.app_context():
        engine = db.engine
    pool.watch(engine, "web", settings.pool_ping_idle_seconds if settings.pool_pre_ping else None)
    runtime = bootstrap.build(settings, urls, "web", engine=engine)
    app.extensions[KEY] = runtime
    openings.init_app(app)
    Migrate(app, db, directory=str(MIGRATIONS_DIR))
    tokens.init_app(app)
    if settings.cors_origins:
        CORS(app, origins=settings.cors_origins, expose_headers=[REQUEST_ID_HEADER])

    api, api_v2 = openapi.documents(app)
    docs.init_app(app)
    v1.register(api)
    v2.register(api_v2)
    graphql.init_app(app, settings)
    console.init_app(app)
    api.register_blueprint(health.blp)
    register_error_handlers(app)
    request_tracing.init_app(app)  # before the other hooks: its span holds theirs
    _install_request_hooks(app)
    metrics.init_app(app, settings)
    # After the hooks above: a refused version still gets its request id, log context,
    # metrics and span.
    versioning.init_app(app)
    _add_web_checks(runtime)
    bootstrap.start(runtime, app)
    return app


class NoCookieSessions(SessionInterface):
    """The API authenticates each request by its token and keeps no cookie session (Flask's
    default would sign and parse a session cookie on every request)."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask substitutes an empty null session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def _flask_config(settings: Settings, urls: DatabaseUrls) -> dict:
    return {
        "SECRET_KEY": settings.secret_key,
        "MAX_CONTENT_LENGTH": settings.max_body_bytes,
        "SQLALCHEMY_DATABASE_URI": urls.runtime,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "hide_parameters": True,  # an error's text (logs, Sentry) carries no bound value
            "pool_size": settings.pool_size,
            "max_overflow": settings.max_overflow,
            "pool_recycle": settings.pool_recycle,
        },
        "CODEX32_MIGRATION_URL": urls.owner,
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=settings.access_token_minutes),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=settings.refresh_token_days),
        **openapi.flask_config(),
    }


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        # Never inherit a workspace from a previous request served by this thread.
        tenancy.unbind()
        clear_log_context()
        g.started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given[:64] if given and given.isprintable() else uuid.uuid4().hex
        bind_log_context(request_id=g.request_id)
        limit_of = body_limit_of(app.view_functions.get(request.endpoint or ""))
        if limit_of is not None:  # a route of its own limit (a document upload)
            request.max_content_length = limit_of()
        _buffer_streamed_body(request.environ, request.max_content_length
                              or app.config["MAX_CONTENT_LENGTH"])

    @app.after_request
    def _finish(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        for name, value in (g.get("rate_limit_headers") or {}).items():
            response.headers.setdefault(name, value)
        started = g.get("started")
        latency_ms = (time.perf_counter() - started) * 1000 if started else None
        if latency_ms is not None:
            # The time the app spent on the request (hooks, view; for a stream, until its
            # first byte), for clients and benchmarks to tell server time from the network's.
            response.headers["Server-Timing"] = f"app;dur={latency_ms:.2f}"
        if request_log.isEnabledFor(logging.INFO):
            request_log.info("%s %s %s", request.method, _loggable_path(), response.status_code,
                             extra={"method": request.method, "status": response.status_code,
                                    "path": request.url_rule.rule if request.url_rule else None,
                                    "latency_ms": round(latency_ms, 2) if latency_ms is not None
                                    else None})
        return response

    @app.teardown_request
    def _forget(_error) -> None:
        tenancy.unbind()
        clear_log_context()
        heap.freeze_new()  # an SDK the request imported (a stream's plugin): frozen, once


# Path parameters that are credentials (an invitation's token): a request line names the
# route instead of the path that holds one.
SECRET_PATH_PARAMETERS = frozenset({"token"})


def _loggable_path() -> str:
    """The request's path for the log, or its route when the path holds a credential."""
    if request.url_rule is not None and SECRET_PATH_PARAMETERS & set(request.view_args or {}):
        return request.url_rule.rule
    return request.path


def _buffer_streamed_body(environ: dict, limit: int) -> None:
    """Read a body sent without Content-Length (chunked) up to ``limit``; more is 413.

    Werkzeug would silently truncate such a body at the limit; buffering it here (bodies are
    small by policy) turns an oversized one into a clear 413 before any handler reads it.
    """
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    if not environ.get("wsgi.input_terminated") or (environ.get("CONTENT_LENGTH")
                                                    and not chunked):
        return
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise TooLarge(f"the request body is larger than {limit} bytes")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    del environ["wsgi.input_terminated"]


def _add_web_checks(runtime: Runtime) -> None:
    """What only the web's ``/health`` reports: the rate limiter's Redis, missing workers."""
    runtime.add_check("redis", health.redis_status)
    runtime.add_check("worker", worker_presence.worker_status)
