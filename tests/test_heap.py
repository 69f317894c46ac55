"""codex32.runtime.heap: what a plugin imports on first use joins the frozen start-up, once."""

from __future__ import annotations

import gc
import sys
import types
import uuid

import pytest

from codex32.runtime import heap


@pytest.fixture()
def thawed(monkeypatch):
    """The test process as a worker would be; unfrozen again after (it is not one)."""
    monkeypatch.setattr(heap, "_modules", None)
    yield
    gc.unfreeze()


def _import_a_new_module() -> str:
    name = f"codex32_heap_probe_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.objects = [[n] for n in range(1000)]  # type: ignore[attr-defined]  # tracked
    sys.modules[name] = module
    return name


def test_nothing_is_frozen_in_a_process_that_never_froze_its_start_up(thawed):
    name = _import_a_new_module()
    try:
        heap.freeze_new()
        assert heap.frozen() == 0
    finally:
        del sys.modules[name]


def test_a_module_imported_after_the_start_up_is_frozen_once(thawed):
    heap.freeze()
    at_start = heap.frozen()
    heap.freeze_new()  # nothing imported since: nothing to do
    # Nothing frozen anew: a freeze adds every object made since, while a frozen object
    # another thread of the process frees meanwhile lowers the count (by 2 in CI runs).
    assert heap.frozen() <= at_start
    name = _import_a_new_module()
    try:
        heap.freeze_new()
        after = heap.frozen()
        assert after >= at_start + 1000  # the module's objects
        heap.freeze_new()
        assert heap.frozen() <= after  # once per import, not per call (frees lower it)
    finally:
        del sys.modules[name]


def test_a_web_request_that_imported_a_module_freezes_it(app, thawed):
    heap.freeze()
    at_start = heap.frozen()
    name = _import_a_new_module()  # as a request's view would
    try:
        # Leaving the request runs its teardown (app.py's ``_forget``). No route is added:
        # the session's app may have served requests already, and then refuses new ones.
        with app.test_request_context("/heap-probe"):
            pass
        assert heap.frozen() >= at_start + 1000
    finally:
        del sys.modules[name]


def test_freezing_what_was_imported_runs_no_collection(thawed):
    heap.freeze()
    name = _import_a_new_module()
    collections: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(note)
    try:
        heap.freeze_new()
    finally:
        gc.callbacks.remove(note)
        del sys.modules[name]
    # A collection stops every thread of the process; the freeze alone takes constant time.
    assert collections == []
    assert heap.frozen() > 0
