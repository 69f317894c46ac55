"""A scripted HTTP server on 127.0.0.1 for the Python SDK's offline tests (retries, timeouts,
unknown enum values): each request gets the next answer of its script, and is recorded."""

from __future__ import annotations

import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = list[tuple[int, dict[str, str], Any]]

EXECUTION = {
    "id": str(uuid.uuid4()),
    "bot_id": str(uuid.uuid4()),
    "version": 1,
    "status": "queued",
    "trigger": "api",
    "attempt": 1,
    "cancel_requested": False,
    "queued_at": "2026-12-04T00:00:00+00:00",
    "input": {},
    "logs": "",
    "logs_truncated": False,
}
BOT = {
    "id": str(uuid.uuid4()),
    "name": "b",
    "description": "",
    "status": "draft",
    "current_version": 0,
    "settings": {},
    "created_at": "2026-12-04T00:00:00+00:00",
    "updated_at": "2026-12-04T00:00:00+00:00",
}


def problem(status: int) -> dict[str, Any]:
    """A v2 problem-details body with ``status``."""
    return {
        "type": "urn:codex32:problem:x",
        "title": "t",
        "status": status,
        "detail": "busy",
        "instance": "/api/v2/bots/x/executions",
    }


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next (status, headers, body) of ``script`` (the last one
    repeats) and records what it was sent: ``seen`` (monotonic time, headers) and
    ``requests`` (method, path with query)."""

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), Answer)
        self.script, self.delay = script, 0.0
        self.seen: list[tuple[float, dict[str, str]]] = []
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, Scripted)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server.seen.append((time.monotonic(), dict(self.headers)))
        server.requests.append((self.command, self.path))
        status, headers, body = server.script[min(len(server.seen), len(server.script)) - 1]
        time.sleep(server.delay)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, *args: object) -> None:
        pass
