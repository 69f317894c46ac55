"""The plugin instances one process built for workspaces, and the results of their tests.

An instance is cached under (workspace, kind, plugin id, configuration generation). A new
generation replaces the workspace's older one, which is closed (its clients and secrets let
go); past :data:`CACHE_SIZE` instances the least recently used one is closed too. Lookups and
replacements are constant time under the lock; ``close()`` runs outside it. No database, no
Flask here: :mod:`codex32.services.provider_instances` decides what to build.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from codex32.plugins.calls import invoke
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import HealthResult, Plugin

log = logging.getLogger(__name__)

CACHE_SIZE = 1024

# (workspace id, kind, plugin id, generation or None for an unconfigured plugin)
Key = tuple[str, str, str, str | None]


class Instances:
    """A bounded cache of plugin instances, one generation per (workspace, kind, id).

    A replaced or evicted instance is closed at once; a call another thread still makes on it
    finishes on a closed instance, so ``close()`` must leave in-flight calls to fail cleanly
    (the plugin contract, docs/plugins.md).
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._cache: OrderedDict[Key, Plugin] = OrderedDict()
        self._generation: dict[tuple[str, str, str], Key] = {}  # the cached key per plugin
        self._health: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get(self, key: Key) -> Plugin | None:
        """The cached instance for ``key`` (marked recently used), or None."""
        with self._lock:
            instance = self._cache.get(key)
            if instance is not None:
                self._cache.move_to_end(key)
            return instance

    def put(self, key: Key, instance: Plugin) -> Plugin:
        """Cache ``instance`` under ``key`` and return the instance to use.

        Another thread may have built the same key meanwhile: its instance wins and this one
        is closed. An older generation of the same plugin, and the least recently used
        instances past the size, are dropped and closed.
        """
        closing: list[Plugin] = []
        with self._lock:
            existing = self._cache.get(key)
            if existing is not None:
                self._cache.move_to_end(key)
                closing.append(instance)
                instance = existing
            else:
                stale = self._generation.get(key[:3])
                if stale is not None:
                    closing.append(self._cache.pop(stale))
                self._cache[key] = instance
                self._generation[key[:3]] = key
                while len(self._cache) > self.size:
                    old_key, old = self._cache.popitem(last=False)
                    del self._generation[old_key[:3]]
                    closing.append(old)
        for old in closing:
            _close(old)
        return instance

    def of_kind(self, kind: str) -> dict[str, Plugin]:
        """The cached instances of ``kind`` by plugin id (one per id)."""
        with self._lock:
            return {key[2]: instance for key, instance in self._cache.items() if key[1] == kind}

    def clear(self) -> None:
        """Close and forget every instance (tests, shutdown)."""
        with self._lock:
            closing = list(self._cache.values())
            self._cache.clear()
            self._generation.clear()
        for old in closing:
            _close(old)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    # -- test results -----------------------------------------------------------------------

    def record_health(self, workspace_id: str, kind: str, plugin_id: str,
                      result: HealthResult) -> None:
        """Remember the outcome of a workspace's test of a plugin (for ``/health``)."""
        with self._lock:
            self._health[(workspace_id, kind, plugin_id)] = {
                "ok": result.ok, "detail": result.detail,
                "checked_at": datetime.now(UTC).isoformat()}

    def health(self) -> dict[str, Any]:
        """How many provider tests passed and failed in this process (never calls a provider).

        A failing workspace provider is that workspace's concern: it does not fail the platform.
        """
        with self._lock:
            results = list(self._health.values())
        failing = sum(1 for item in results if not item["ok"])
        return {"ok": True, "checked": len(results), "failing": failing}

    def vector_store_health(self) -> dict[str, Any] | None:
        """Health of the vector stores this process already uses (None when it uses none).

        Only instances that exist are checked, so a probe never starts a server or a client.
        """
        stores = self.of_kind("vector_store")
        if not stores:
            return None
        results = {}
        for plugin_id, store in stores.items():
            try:
                result = invoke(store, "health_check", store.health_check, timeout=5.0)
                results[plugin_id] = {"ok": result.ok, "detail": result.detail}
            except PluginError as exc:
                results[plugin_id] = {"ok": False, "detail": type(exc).__name__}
        return {"ok": all(r["ok"] for r in results.values()), "stores": results}


def _close(instance: Plugin) -> None:
    try:
        instance.close()
    except Exception:  # a plugin failing to let go must not fail the request that replaced it
        log.exception("closing the %s plugin %s failed", instance.kind, instance.id)
