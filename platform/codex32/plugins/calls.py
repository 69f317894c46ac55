"""Calls into plugins: bounded by a timeout, measured per plugin, errors made uniform.

Every plugin error leaves here as a :mod:`codex32.plugins.errors` type, so the API layer maps
it once (``codex32.errors.from_plugin_error``). Latency and errors are Prometheus series
labelled by plugin id, kind and operation, never by workspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from codex32.observability.metrics import PLUGIN_CALLS, PLUGIN_ERRORS
from codex32.plugins.errors import PluginError, ProviderError, ProviderTimeout
from codex32.plugins.interfaces import Plugin

T = TypeVar("T")

# Calls run here so a hung plugin cannot hold the request thread past its timeout.
_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="codex32-plugin")


def invoke(instance: Plugin, operation: str, function: Callable[..., T], *args: Any,
           timeout: float = 30.0, **kwargs: Any) -> T:
    """Call ``function`` (a method of ``instance``) with a deadline; raise plugin errors only."""
    labels = {"plugin": instance.id, "kind": instance.kind, "operation": operation}
    started = time.perf_counter()
    try:
        return _pool.submit(function, *args, **kwargs).result(timeout=timeout)
    except FutureTimeout as exc:
        PLUGIN_ERRORS.labels(**labels, error="ProviderTimeout").inc()
        raise ProviderTimeout(f"{instance.id} {operation} took longer than {timeout:g}s") from exc
    except PluginError as exc:
        PLUGIN_ERRORS.labels(**labels, error=type(exc).__name__).inc()
        raise
    except Exception as exc:
        PLUGIN_ERRORS.labels(**labels, error="unexpected").inc()
        # The type only: an unexpected message may carry what the plugin should not show.
        raise ProviderError(f"{instance.id} {operation} failed ({type(exc).__name__})") from exc
    finally:
        PLUGIN_CALLS.labels(**labels).observe(time.perf_counter() - started)
