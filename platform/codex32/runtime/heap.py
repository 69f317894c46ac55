"""Keep a long-running process's long-lived objects out of the cyclic GC's full collections.

A web worker freezes what it loaded at start-up (``gc.freeze()`` in gunicorn.conf.py's
``post_worker_init``), the job worker once it is built: a full collection then walks only
what came after. The SDKs plugins import on their first call (openai, anthropic, pymilvus)
come after: the openai SDK alone is about 170,000 tracked objects, which every full
collection would walk again, a pause of 30-80 ms for all the process's threads. So after a
plugin call that imported modules (``sys.modules`` grew), :func:`freeze_new` freezes them
too: one collection and a freeze, paid once by the request that imported the SDK (which
paid the import itself), never by the requests after it. It runs after every plugin call
(``plugins.calls.invoke``) and at the end of every web request (a streamed chat reads its
plugin outside ``invoke``).

Only in a process that froze its start-up (:func:`freeze`); a test process never does, and
then :func:`freeze_new` does nothing.
"""

from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_modules: int | None = None  # len(sys.modules) at the last freeze; None: never frozen


def freeze() -> None:
    """Collect, then freeze every object the process holds (its start-up, loaded once)."""
    global _modules
    with _lock:
        gc.collect()
        gc.freeze()
        _modules = len(sys.modules)


def freeze_new() -> None:
    """Freeze what was loaded since the last freeze, if modules were imported since (cheap
    otherwise: one length compared)."""
    if _modules is None or len(sys.modules) == _modules:
        return
    freeze()


def frozen() -> int:
    """Objects in the permanent generation (for tests and probes)."""
    return gc.get_freeze_count()
