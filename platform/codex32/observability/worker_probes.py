"""The worker process's small HTTP server: ``/health/alive``, ``/health/ready``, ``/metrics``.

The web process serves these through Flask; the worker has no Flask app, so a standard-library
server in a daemon thread answers the same paths on CODEX32_WORKER_PORT for the probes and
Prometheus. It must never touch tenant data.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], dict[str, Any] | None]  # None: nothing to report


def _metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # only under PROMETHEUS_MULTIPROC_DIR

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def run_checks(checks: Mapping[str, Callable[[], dict[str, Any] | None]]) -> dict[str, Any]:
    """Each check's result by name (one that raises is failing; None leaves it out): the web's
    ``/health`` and the worker's ``/health/ready`` run their checks through this."""
    results = {}
    for name, check in checks.items():
        try:
            result = check()
        except Exception as exc:
            result = {"ok": False, "error": type(exc).__name__}
        if result is not None:
            results[name] = result
    return results


def serve(port: int, checks: dict[str, ReadyCheck], host: str = "0.0.0.0",
          metrics_token: str | None = None) -> ThreadingHTTPServer:
    """Start answering on ``host:port`` in a daemon thread; the worker is ready while every
    check (``name -> () -> {"ok", ...}``) is ok. With ``metrics_token`` (METRICS_TOKEN),
    ``/metrics`` wants it as a bearer token, as the web's does; the probes never do."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health/alive":
                self._json(200, {"status": "alive"})
            elif path == "/health/ready":
                results = run_checks(checks)
                ready = all(result.get("ok") for result in results.values())
                self._json(200 if ready else 503,
                           {"status": "ready" if ready else "not ready", "checks": results})
            elif path == "/metrics" and not self._authorized():
                self._json(401, {"code": 401, "status": "Unauthorized",
                                 "message": "metrics need the METRICS_TOKEN bearer token"})
            elif path == "/metrics":
                self._send(200, _metrics(), CONTENT_TYPE_LATEST)
            else:
                self._json(404, {"code": 404, "status": "Not Found", "message": "not found"})

        def _authorized(self) -> bool:
            if not metrics_token:
                return True
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            return hmac.compare_digest(given.encode(), metrics_token.encode())

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # probes are not news
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="codex32-probes", daemon=True).start()
    log.info("worker probes and metrics on port %d", server.server_address[1])
    return server
