"""Calls into plugins: bounded in time and in number, measured per plugin, errors made uniform.

Every plugin error leaves here as a :mod:`codex32.plugins.errors` type, so the API layer maps
it once (``codex32.errors.from_plugin_error``). Latency and errors are Prometheus series
labelled by plugin id, kind and operation, never by workspace.

A slow provider must not starve other tenants, so calls are bounded in number too:

- **per plugin id** (a bulkhead, ``PLUGIN_CALLS_PER_PLUGIN`` set with :func:`limit_plugins`):
  each plugin runs on its own bounded pool, and a call that
  finds every one of its threads busy (a hung provider) is refused at once with
  :class:`ProviderRateLimited` instead of queueing; other plugins keep their threads.
- **per workspace** (in the web process: its runtime's ``calls_per_workspace``): a workspace
  may have only so many calls in flight; one more answers 429 "too many concurrent provider
  calls" with ``Retry-After`` at once, so it cannot hold every request thread.

A slot is given back when the plugin's function returns, not when its caller stops waiting:
a call past its deadline still occupies its thread, and is counted until it ends. The call
runs in a copy of the caller's :mod:`contextvars` context, so the bound workspace, the log
context (request id, workspace id) and, when tracing is on, the call's span (``plugin
<kind>.<operation>``) reach the plugin's thread.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from codex32 import runtime
from codex32.db.tenancy import current_workspace
from codex32.errors import RateLimited
from codex32.observability import tracing
from codex32.observability.metrics import PLUGIN_CALLS, PLUGIN_ERRORS
from codex32.plugins.errors import (
    PluginError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    scrubbed,
)
from codex32.plugins.interfaces import Plugin
from codex32.runtime import heap

T = TypeVar("T")

CALLS_PER_PLUGIN = 16  # the default of PLUGIN_CALLS_PER_PLUGIN
RETRY_AFTER_SECONDS = 1.0


class TooManyCalls(RateLimited):
    """The workspace has as many plugin calls in flight as this process allows (429)."""


class _Counter:
    """In-flight calls per key under one lock; a key at zero is forgotten (bounded memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def take(self, key: str, limit: int) -> bool:
        """Count one more call for ``key`` unless ``limit`` are already in flight."""
        with self._lock:
            count = self._counts.get(key, 0)
            if count >= limit:
                return False
            self._counts[key] = count + 1
            return True

    def give(self, key: str) -> None:
        """One call for ``key`` ended."""
        with self._lock:
            count = self._counts.get(key, 0) - 1
            if count > 0:
                self._counts[key] = count
            else:
                self._counts.pop(key, None)

    def count(self, key: str) -> int:
        """Calls in flight for ``key``."""
        with self._lock:
            return self._counts.get(key, 0)


_per_workspace = _Counter()
_per_plugin = _Counter()
_plugin_limit = CALLS_PER_PLUGIN
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def limit_plugins(limit: int) -> None:
    """Bound the calls one plugin id may have in flight in this process (its pool's size).

    Pools of the old size are retired: calls already running on them finish there.
    """
    global _plugin_limit
    if limit < 1:
        raise ValueError("a plugin needs at least one call in flight")
    with _pools_lock:
        if limit == _plugin_limit:
            return
        _plugin_limit = limit
        retired = list(_pools.values())
        _pools.clear()
    for pool in retired:
        pool.shutdown(wait=False)


def plugin_limit() -> int:
    """The calls one plugin id may have in flight in this process."""
    return _plugin_limit


def in_flight(workspace_id: str | None = None, plugin_id: str | None = None) -> int:
    """Calls in flight in this process for a workspace or a plugin id (for tests and probes)."""
    if workspace_id is not None:
        return _per_workspace.count(workspace_id)
    return _per_plugin.count(plugin_id or "")


def invoke(instance: Plugin, operation: str, function: Callable[..., T], *args: Any,
           timeout: float = 30.0, **kwargs: Any) -> T:
    """Call ``function`` (a method of ``instance``) with a deadline; raise plugin errors only,
    or :class:`TooManyCalls` when the bound workspace has too many calls in flight."""
    labels = {"plugin": instance.id, "kind": instance.kind, "operation": operation}
    if not tracing.enabled():
        return _invoke(instance, operation, function, args, kwargs, timeout, labels)
    with tracing.span(f"plugin {instance.kind}.{operation}", attributes={
            "codex32.plugin.id": instance.id, "codex32.plugin.kind": instance.kind,
            "codex32.plugin.operation": operation}):
        # Opened before the call's context is copied: the plugin's thread runs inside it.
        return _invoke(instance, operation, function, args, kwargs, timeout, labels)


def _invoke(instance: Plugin, operation: str, function: Callable[..., T], args: tuple[Any, ...],
            kwargs: dict[str, Any], timeout: float, labels: dict[str, str]) -> T:
    release = _admit(current_workspace(), instance.id, labels)
    context = contextvars.copy_context()

    def run() -> T:
        try:
            return context.run(function, *args, **kwargs)
        finally:
            release()

    started = time.perf_counter()
    try:
        future = _pool(instance.id).submit(run)
    except BaseException:
        release()
        raise
    try:
        result = future.result(timeout=timeout)
        heap.freeze_new()  # an SDK the call imported (once): out of full collections
        return result
    except FutureTimeout as exc:
        PLUGIN_ERRORS.labels(**labels, error="ProviderTimeout").inc()
        raise ProviderTimeout(f"{instance.id} {operation} took longer than {timeout:g}s") from exc
    except PluginError as exc:
        PLUGIN_ERRORS.labels(**labels, error=type(exc).__name__).inc()
        raise scrubbed(exc, secret_values(instance)) from exc.__cause__
    except Exception as exc:
        PLUGIN_ERRORS.labels(**labels, error="unexpected").inc()
        # The type only: an unexpected message may carry what the plugin should not show.
        raise ProviderError(f"{instance.id} {operation} failed ({type(exc).__name__})") from exc
    finally:
        PLUGIN_CALLS.labels(**labels).observe(time.perf_counter() - started)


def secret_values(instance: Plugin) -> Iterable[str | None]:
    """The plain values of the instance's declared secrets (what its errors must not show)."""
    for name in instance.secrets:
        try:
            yield instance.secret(name)
        except Exception:  # a plugin that broke its own secret(): its values stay unknown
            continue


def guarded(instance: Plugin, operation: str, open_stream: Callable[[], Iterable[T]]
            ) -> Iterator[T]:
    """The pieces of the stream ``open_stream()`` returns (a plugin's), its errors, opening
    included, made uniform as :func:`invoke` makes them: plugin errors without the instance's
    secrets, anything else a ``ProviderError`` naming its type only. Closing it closes the
    plugin's stream."""
    try:
        yield from open_stream()
    except PluginError as exc:
        raise scrubbed(exc, secret_values(instance)) from exc.__cause__
    except Exception as exc:
        raise ProviderError(f"{instance.id} {operation} failed ({type(exc).__name__})") from exc


def _admit(workspace_id: str | None, plugin_id: str,
           labels: dict[str, str]) -> Callable[[], None]:
    """Take a slot for the workspace and one for the plugin, or refuse; returns the release."""
    # The web's runtime bounds workspaces (request threads are what it protects); the worker's
    # does not: its own concurrency bounds its jobs.
    found = runtime.find()
    limit = found.calls_per_workspace if found is not None else None
    per_plugin = _plugin_limit
    counted = workspace_id if limit is not None and workspace_id is not None else None
    if counted is not None and limit is not None and not _per_workspace.take(counted, limit):
        PLUGIN_ERRORS.labels(**labels, error="TooManyCalls").inc()
        raise TooManyCalls(f"too many concurrent provider calls in this workspace (at most "
                           f"{limit} at a time); retry shortly", RETRY_AFTER_SECONDS)
    if not _per_plugin.take(plugin_id, per_plugin):
        if counted is not None:
            _per_workspace.give(counted)
        PLUGIN_ERRORS.labels(**labels, error="ProviderRateLimited").inc()
        raise ProviderRateLimited(f"{plugin_id} has {per_plugin} calls in flight in this "
                                  f"process; it is not answering", retry_after=RETRY_AFTER_SECONDS)
    released = threading.Event()

    def release() -> None:
        if released.is_set():
            return
        released.set()
        _per_plugin.give(plugin_id)
        if counted is not None:
            _per_workspace.give(counted)

    return release


def _pool(plugin_id: str) -> ThreadPoolExecutor:
    """The plugin's own pool: as many threads as calls it may have in flight."""
    with _pools_lock:
        pool = _pools.get(plugin_id)
        if pool is None:
            pool = _pools[plugin_id] = ThreadPoolExecutor(
                max_workers=_plugin_limit, thread_name_prefix=f"codex32-plugin-{plugin_id}")
        return pool
