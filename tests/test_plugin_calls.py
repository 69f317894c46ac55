"""codex32.plugins.calls: deadlines, the per-plugin bulkhead, and the caller's context carried
into the plugin's thread. Real plugin instances (the built-in defaults), real threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from codex32.observability.logging import bind_log_context, clear_log_context, get_log_context
from codex32.plugins import calls
from codex32.plugins.defaults.builtin_llm import BuiltinLLM
from codex32.plugins.defaults.hashing_embedder import HashingEmbedder
from codex32.plugins.errors import ProviderRateLimited, ProviderTimeout
from codex32.plugins.interfaces import with_defaults
from tests.execution.sandbox_support import poll_until


def _instance(cls):
    return cls(with_defaults(cls.config_schema, {}), {})



def test_a_call_runs_in_the_callers_context():
    """Log context (request id, workspace) bound by the request reaches the plugin's thread."""
    llm = _instance(BuiltinLLM)
    bind_log_context(request_id="req-42", workspace_id="ws-a")
    try:
        seen = calls.invoke(llm, "probe", get_log_context, timeout=5)
    finally:
        clear_log_context()
    assert seen == {"request_id": "req-42", "workspace_id": "ws-a"}
    assert calls.in_flight(plugin_id=llm.id) == 0


def test_a_hung_plugin_is_refused_at_once_and_does_not_starve_another_plugin():
    hung, other = _instance(BuiltinLLM), _instance(HashingEmbedder)
    gate = threading.Event()
    limit = calls.plugin_limit()
    attempts = 2 * limit  # the old shared pool had 32 threads
    try:
        with ThreadPoolExecutor(max_workers=attempts) as callers:
            outcomes = list(callers.map(
                lambda _: _outcome(lambda: calls.invoke(hung, "complete", gate.wait, 10,
                                                        timeout=0.2)), range(attempts)))
            # Past their deadline the hung calls still hold their threads, and are counted.
            assert calls.in_flight(plugin_id=hung.id) == limit
            started = time.monotonic()
            assert calls.invoke(other, "embed", lambda: "answered", timeout=2) == "answered"
            with pytest.raises(ProviderRateLimited, match="calls in flight"):
                calls.invoke(hung, "complete", gate.wait, 10, timeout=5)
            assert time.monotonic() - started < 1.0
    finally:
        gate.set()
    assert outcomes.count(ProviderTimeout) == limit
    assert outcomes.count(ProviderRateLimited) == attempts - limit
    assert poll_until(lambda: calls.in_flight(plugin_id=hung.id) == 0)


def test_the_bulkhead_size_is_the_setting_and_the_app_applies_it(make_app):
    """PLUGIN_CALLS_PER_PLUGIN bounds each plugin's calls in flight in the process."""
    hung, gate = _instance(BuiltinLLM), threading.Event()
    try:
        make_app(plugin_calls_per_plugin=3)
        assert calls.plugin_limit() == 3
        with ThreadPoolExecutor(max_workers=3) as callers:
            for _ in range(3):
                callers.submit(calls.invoke, hung, "complete", gate.wait, 10, timeout=10)
            assert poll_until(lambda: calls.in_flight(plugin_id=hung.id) == 3)
            with pytest.raises(ProviderRateLimited, match="has 3 calls in flight"):
                calls.invoke(hung, "complete", gate.wait, 10, timeout=5)
            gate.set()
    finally:
        gate.set()
        calls.limit_plugins(calls.CALLS_PER_PLUGIN)
    assert poll_until(lambda: calls.in_flight(plugin_id=hung.id) == 0)


def _outcome(call) -> type[Exception] | None:
    try:
        call()
    except (ProviderTimeout, ProviderRateLimited) as exc:
        return type(exc)
    return None
