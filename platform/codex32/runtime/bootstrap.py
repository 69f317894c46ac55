"""The one bootstrap: builds a process's :class:`~codex32.runtime.Runtime` from its settings.

The web app (:func:`codex32.app.create_app`), the worker (:mod:`codex32.execution.process`)
and the command line (:mod:`codex32.cli`) all build their runtime here, then call
:func:`start` once, which runs every plugin's ``startup`` hook:

1. logging, error reporting and tracing (web and worker);
2. the database engine and a session factory (the web passes Flask-SQLAlchemy's engine);
3. the plugin manager, loaded once, and an empty cache of per-workspace instances;
4. the key box, the password hasher, the sandbox policy;
5. web and worker: the sandbox probe, once;
6. the health checks every process has (plugins, providers, vector stores, sandbox);
7. in :func:`start`: the plugins' ``startup`` hooks, each executor's isolation level (web and
   worker, read once), then the runtime role check (the worker always, the web with
   CODEX32_STARTUP_CHECKS).

So no request ever starts a process to answer (``/health``, ``GET /api/v1/plugins``).

Nothing here is stored in a module global: the caller keeps the runtime (on the Flask app, in
the worker's job context, for the length of a CLI command).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from codex32 import __version__
from codex32.auth.passwords import Passwords
from codex32.config import Settings
from codex32.crypto import SecretBox
from codex32.db import pool
from codex32.db.roles import check_runtime_role
from codex32.db.urls import DatabaseUrls
from codex32.execution import sandbox
from codex32.observability import tracing
from codex32.observability.logging import configure_logging
from codex32.observability.sentry import init_sentry
from codex32.plugins.calls import limit_plugins
from codex32.plugins.manager import PluginManager
from codex32.plugins.manager import load as load_plugins
from codex32.ratelimit import RateLimiter
from codex32.runtime import Runtime, activated
from codex32.runtime.instances import Instances
from codex32.services import provider_instances
from codex32.services.gateway import setup as gateway_setup

PROCESSES = ("web", "worker", "cli")


def build(settings: Settings, urls: DatabaseUrls, process: str, *,
          engine: Engine | None = None) -> Runtime:
    """The runtime of a ``process`` ("web", "worker" or "cli") with these settings.

    ``engine`` is the web's (Flask-SQLAlchemy's); the worker and the CLI get their own on the
    runtime role. The caller runs :func:`start` next, once.
    """
    if process not in PROCESSES:
        raise ValueError(f"process must be one of {', '.join(PROCESSES)}")
    if process != "cli":
        configure_logging(settings.log_level, json=settings.log_json)
        init_sentry(settings.sentry_dsn, settings.env, settings.release or __version__)
        if settings.traces_exporter != "none":
            tracing.configure(settings, process)
    engine = engine or _engine(settings, urls, process)
    tracing.instrument_engine(engine)  # only when tracing is on
    # Each plugin's pool is the process's (its threads are), so its size is set per process.
    limit_plugins(settings.plugin_calls_per_plugin)
    rt = Runtime(process=process, settings=settings, engine=engine,
                 sessions=sessionmaker(engine, expire_on_commit=False),
                 plugins=load_plugins(settings.load_plugins, strict=settings.strict_plugins),
                 instances=Instances(), box=SecretBox(settings.secrets_keys),
                 passwords=Passwords(settings.argon2_time_cost, settings.argon2_memory_kib),
                 sandbox=sandbox.SandboxPolicy.from_settings(settings),
                 # Web and worker share limits (and the gateway's cooldowns) through Redis.
                 limiter=RateLimiter(settings.redis_url if process != "cli" else None,
                                     workers=settings.web_concurrency if process == "web" else 1),
                 calls_per_workspace=(settings.plugin_calls_per_workspace or None
                                      if process == "web" else None))
    if process != "cli":
        rt.sandbox_availability = sandbox.availability(rt.sandbox)
        rt.add_check("sandbox", functools.partial(sandbox.status, rt.sandbox_availability))
    rt.add_check("plugins", functools.partial(plugins_status, rt.plugins))
    rt.add_check("providers", rt.instances.health)
    rt.add_check("vector_store", rt.instances.vector_store_health)
    return rt


def start(rt: Runtime, app: Any = None) -> None:
    """Run every plugin's ``startup`` hook once (``app``: the Flask app, None outside the web),
    with ``rt`` current; then read the executors' isolation levels, note broken plugins and
    check the runtime role (refusing one that bypasses row-level security)."""
    with activated(rt):
        rt.plugins.startup(app)
        if rt.process != "cli":
            rt.isolation = provider_instances.isolation_levels()
            gateway_setup.warm_in_background()
    rt.warnings += [f"plugin {info.name} failed to load: {info.error}"
                    for info in rt.plugins.broken()]
    settings = rt.settings
    if rt.process == "worker" or (rt.process == "web" and settings.startup_checks):
        # Last, so the connection it used is fresh when the first request comes.
        rt.warnings += check_runtime_role(rt.engine, allow_owner=settings.allow_owner_runtime,
                                          production=settings.production)


def plugins_status(manager: PluginManager) -> dict[str, Any]:
    """``/health``'s ``plugins`` check: failing while an installed plugin did not load. Names
    and versions only; the errors are in ``GET /api/v1/plugins``, behind authentication."""
    broken = manager.broken()
    return {"ok": not broken, "loaded": len(manager.plugins) - len(broken),
            "broken": [{"name": info.name, "version": info.version} for info in broken]}


def _engine(settings: Settings, urls: DatabaseUrls, process: str) -> Engine:
    # hide_parameters: an error's text (logs, Sentry) carries no bound value (code, chats).
    if process == "cli":
        return create_engine(urls.runtime, hide_parameters=True)
    # One session per running job, one for the maintenance loop, a little slack.
    engine = create_engine(urls.runtime, pool_size=settings.worker_concurrency + 2,
                           max_overflow=2, pool_recycle=settings.pool_recycle,
                           hide_parameters=True)
    pool.watch(engine, process,
               settings.pool_ping_idle_seconds if settings.pool_pre_ping else None)
    return engine
