"""The protocol-neutral scripted HTTP server the local API fakes are built on.

For tests only: a threaded server on 127.0.0.1 that records every request and answers from a
script (:meth:`ScriptedServer.enqueue`) or from its subclass's default (:meth:`route`), with
delays and paced Server-Sent Events to exercise timeouts and streams. What the answers say
is the subclasses' (:mod:`codex32.testing.fake_openai`, :mod:`codex32.testing.fake_anthropic`,
helped by :mod:`codex32.testing.fake_answers`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

JSONValue = Any



@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: header names are lower-cased, ``path`` has no query."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def json(self) -> JSONValue:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class ScriptedResponse:
    """An answer to send: a JSON or raw body, or a list of SSE events ``(event, data)``.

    ``data`` of an SSE event is a dict (sent as JSON) or a string (sent as is); ``event`` None
    sends a ``data:`` line only, as OpenAI does. ``interval`` (seconds) paces the events, to
    exercise timeouts mid-stream. ``path`` None matches any request.
    """

    status: int = 200
    json: JSONValue = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sse: Sequence[tuple[str | None, JSONValue]] | None = None
    delay: float = 0.0
    interval: float = 0.0
    path: str | None = None


Reply = str | Callable[[JSONValue], str]


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a script.

    Subclasses implement :meth:`route` (the default answer), :meth:`error` (the provider's error
    shape) and :meth:`authorized`. Scripted answers from :meth:`enqueue` take precedence, in
    order. ``delay`` (seconds) holds every answer back, to exercise client timeouts.
    """

    base_path = ""
    request_id_header = "x-request-id"

    def __init__(self, *, api_key: str | None = None, delay: float = 0.0,
                 reply: Reply | None = None) -> None:
        self.api_key = api_key
        self.delay = delay
        self.reply = reply
        self.stream_interval = 0.0  # seconds between streamed events (a slow model)
        self.cached_tokens = 0      # prompt tokens reported as read from the prompt cache
        self.aborted = 0            # answers the client stopped reading before their end
        self._requests: list[RecordedRequest] = []
        self._script: list[ScriptedResponse] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 and serve in a background thread."""
        self._stopping.clear()
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__,
                                        kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed answers and close open connections."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._httpd.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server's address
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The value to pass as the SDK's ``base_url``."""
        return self.origin + self.base_path

    # recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received for one path, e.g. ``/v1/chat/completions``."""
        return [r for r in self.requests if r.path == path]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Poll until at least ``count`` requests arrived (or the deadline passed)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    def reset(self) -> None:
        """Forget recorded requests and pending scripted answers."""
        with self._lock:
            self._requests.clear()
            self._script.clear()

    # scripting

    def enqueue(self, status: int = 200, json: JSONValue = None, *, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                sse: Iterable[tuple[str | None, JSONValue]] | None = None, delay: float = 0.0,
                interval: float = 0.0, path: str | None = None) -> None:
        """Answer the next request (to ``path``, if given) with exactly this."""
        self._push(ScriptedResponse(status=status, json=json, body=body,
                                    headers=dict(headers or {}),
                                    sse=list(sse) if sse is not None else None,
                                    delay=delay, interval=interval, path=path))

    def enqueue_error(self, status: int, message: str | None = None, *, type: str | None = None,
                      code: str | None = None, retry_after: float | None = None,
                      headers: dict[str, str] | None = None, path: str | None = None) -> None:
        """Answer the next request with the provider's error body for ``status``."""
        response = self.error(status, message, type=type, code=code)
        response.headers.update(headers or {})
        if retry_after is not None:
            response.headers["retry-after"] = _format_seconds(retry_after)
        response.path = path
        self._push(response)

    def enqueue_failure(self, failure: str, *, retry_after: float | None = None,
                        path: str | None = None) -> None:
        """Answer the next request with a typical failure: ``rate_limit`` (429, with
        ``retry_after``), ``server`` (500), ``overloaded`` (529), ``timeout`` (no answer for
        30 s), ``context_length`` (the provider's prompt-too-long 400) or ``auth`` (401)."""
        if failure == "timeout":
            self.enqueue(200, {}, delay=30, path=path)
            return
        if failure == "context_length":
            response = self.context_length_error()
            response.path = path
            self._push(response)
            return
        status = {"rate_limit": 429, "server": 500, "overloaded": 529, "auth": 401}[failure]
        self.enqueue_error(status, retry_after=retry_after, path=path)

    def context_length_error(self) -> ScriptedResponse:
        """The provider's answer to a prompt longer than the model's context."""
        return self.error(400, "the prompt is too long for this model's context length")

    def _push(self, response: ScriptedResponse) -> None:
        with self._lock:
            self._script.append(response)

    def _next_scripted(self, path: str) -> ScriptedResponse | None:
        with self._lock:
            for index, response in enumerate(self._script):
                if response.path is None or response.path == path:
                    return self._script.pop(index)
        return None

    # what subclasses define

    def route(self, request: RecordedRequest) -> ScriptedResponse:
        """The default answer to an unscripted, authorized request."""
        return self.error(404, f"Unknown request URL: {request.method} {request.path}")

    def error(self, status: int, message: str | None = None, *, type: str | None = None,
              code: str | None = None) -> ScriptedResponse:
        """The provider's error response for ``status``."""
        return ScriptedResponse(status=status, json={"error": message or "error"})

    def authorized(self, request: RecordedRequest) -> bool:
        """Whether the request carries ``api_key`` (always true when the fake has none)."""
        return True

    def unauthorized(self, request: RecordedRequest) -> ScriptedResponse:
        """The answer to a request with a wrong or missing key."""
        return self.error(401, "invalid credentials")

    def reply_text(self, request_json: JSONValue, last_user_text: str) -> str:
        """The assistant's text: ``reply`` when set, else an echo of the last user message."""
        if callable(self.reply):
            return self.reply(request_json)
        if self.reply is not None:
            return self.reply
        return f"echo: {last_user_text}"

    def new_id(self, prefix: str) -> str:
        """A unique, readable identifier such as ``chatcmpl-fake-3``."""
        return f"{prefix}fake-{next(self._ids)}"

    # request handling (called on the server's threads)

    def _answer(self, request: RecordedRequest) -> ScriptedResponse:
        with self._lock:
            self._requests.append(request)
        scripted = self._next_scripted(request.path)
        if scripted is not None:
            return scripted
        if not self.authorized(request):
            return self.unauthorized(request)
        try:
            return self.route(request)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return self.error(400, f"could not handle the request body: {exc}")


class _QuietHTTPServer(ThreadingHTTPServer):
    """Serves each connection on a daemon thread; a client hanging up is not an error."""

    daemon_threads = True
    request_queue_size = 1024  # a benchmark opens hundreds of streams at once (default 5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # e.g. a pooled keep-alive connection the client closed
        super().handle_error(request, client_address)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to one :class:`ScriptedServer`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
        timeout = 30  # idle keep-alive connections end instead of lingering
        server_version = "codex32-fake"

        def setup(self) -> None:
            super().setup()
            # Small header and body writes must not wait on delayed ACKs (a 40 ms stall each).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            with contextlib.suppress(OSError):  # the client went away mid-answer
                super().finish()

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the per-request stderr lines."""

        def _read_body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command, path=parts.path, query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self._read_body(), received_at=time.time())
            response = server._answer(request)
            wait = max(server.delay, response.delay)
            if wait and server._stopping.wait(wait):
                self.close_connection = True
                return
            try:
                self._send(response)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. its timeout fired)
                with server._lock:
                    server.aborted += 1

        def _send(self, response: ScriptedResponse) -> None:
            self.send_response(response.status)
            headers = {server.request_id_header: server.new_id("req_"), **response.headers}
            if response.sse is not None:
                headers.setdefault("content-type", "text/event-stream; charset=utf-8")
                headers.setdefault("cache-control", "no-cache")
                headers["transfer-encoding"] = "chunked"
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                for index, (event, data) in enumerate(response.sse):
                    if index and response.interval and server._stopping.wait(response.interval):
                        return
                    self._write_chunk(_sse_frame(event, data))
                self._write_chunk(b"")
                return
            if response.body is not None:
                payload = response.body
                headers.setdefault("content-type", "application/octet-stream")
            else:
                payload = json.dumps(response.json).encode()
                headers.setdefault("content-type", "application/json")
            headers["content-length"] = str(len(payload))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

        def _write_chunk(self, data: bytes) -> None:
            # Chunked transfer encoding, flushed per event, so the client sees a real stream.
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _sse_frame(event: str | None, data: JSONValue) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in payload.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()
