"""Fixtures for the webhook notifier's tests: a local receiver and the operator's setting."""

from __future__ import annotations

import http.server
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import codex32_webhook
import pytest


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records requests and answers them from a script."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Queue the answer to the next request (later requests get 200 once it is empty)."""
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1 with a free port."""
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            status, headers, answer = state.script.popleft() if state.script else (200, {}, b"")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll interval keeps shutdown, and so each test, quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/codex32?source=test"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock.getsockname()[1]


@pytest.fixture(autouse=True)
def private_targets_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver is on 127.0.0.1, so the operator allows private targets unless a test says
    otherwise."""
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the notifier asked for; nothing actually waits."""
    delays: list[float] = []
    monkeypatch.setattr(codex32_webhook, "_sleep", delays.append)
    return delays
