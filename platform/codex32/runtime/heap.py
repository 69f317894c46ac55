"""Keep a long-running process's long-lived objects out of the cyclic GC's full collections.

A web worker freezes what it loaded at start-up (``gc.freeze()`` in gunicorn.conf.py's
``post_worker_init``), the job worker once it is built: a full collection then walks only
what came after. The SDKs plugins import on their first call (openai, anthropic, pymilvus)
come after: the openai SDK alone is about 170,000 tracked objects, which every full
collection would walk again, a pause of 30-80 ms for all the process's threads. So after a
plugin call that imported modules (``sys.modules`` grew), :func:`freeze_new` freezes them
too. It runs after every plugin call (``plugins.calls.invoke``) and at the end of every web
request (a streamed chat reads its plugin outside ``invoke``).

:func:`freeze_new` does not collect first, unlike the start-up's :func:`freeze`: the openai
SDK imports its modules lazily over its first calls and streams, so a worker that opens its
first streams sees ``sys.modules`` grow a dozen times within a second or two, and whichever
request ended next (often another workspace's ``GET``) paid a full collection each time:
10-30 ms of CPU with every thread of the worker stopped, and queued behind the others'
(bench/stream_bench.py, docs/operations.md "Serving model"). ``gc.freeze()`` alone moves the
young generations into the permanent one in constant time. The price: cyclic garbage that
exists at that moment is never collected; those collections found 0-204 objects (tens of
kilobytes at most) a freeze, and a process freezes a bounded number of times (once per lazily
imported batch of modules).

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
    otherwise: one length compared), without a collection first (constant time)."""
    global _modules
    if _modules is None or len(sys.modules) == _modules:
        return
    with _lock:
        if len(sys.modules) == _modules:  # another thread froze them meanwhile
            return
        gc.freeze()
        _modules = len(sys.modules)


def frozen() -> int:
    """Objects in the permanent generation (for tests and probes)."""
    return gc.get_freeze_count()
