"""HTTP test doubles for plugins that call out: a scripted receiver and ports that refuse or
never answer. Test support only; nothing here runs in production.

A conftest imports what it needs: ``from codex32.testing.receivers import closed_port,
silent_port, serve`` and builds its own ``receiver`` fixture with :func:`serve`; a test that
starts a server of its own picks its port with :func:`free_port` (or :func:`free_ports`).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

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
    default_body: bytes = b""

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Queue the answer to the next request (later requests get 200 once it is empty)."""
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))


@contextmanager
def serve(path: str = "/", default_body: bytes = b"") -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (a free port) whose ``url`` ends with ``path``."""
    state = Receiver(default_body=default_body)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            status, headers, answer = (state.script.popleft() if state.script
                                       else (200, {}, state.default_body))
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
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A local TCP port nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct local TCP ports nothing listens on right now (the probes are held open
    together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connecting is refused."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock.getsockname()[1]
