"""A local fake of the OpenAI HTTP API, and the scripted test server it is built on.

For tests only: no network beyond 127.0.0.1, no persistence. It speaks the wire protocol the
official SDK speaks (chat completions with and without SSE streaming, embeddings as floats or
base64, the model list, the error bodies), so a plugin is tested through its real client.

    with FakeOpenAI(api_key="sk-test") as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.url)
        server.enqueue_error(429, retry_after=2)   # the next request gets this answer
        ...
        assert server.requests[-1].json["model"] == "gpt-4o-mini"

As a pytest fixture: ``pytest_plugins = ["codex32.testing.fake_openai"]`` in a root conftest
gives ``fake_openai``, a running server that accepts any key.

Unscripted requests get a deterministic answer: the chat reply echoes the last user message,
usage counts follow the input length, embeddings are unit vectors seeded by the text.
:class:`ScriptedServer` is the protocol-neutral part (threads, recording, scripting, delays) that
:mod:`codex32.testing.fake_anthropic` shares.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import pytest

JSONValue = Any

# --- the protocol-neutral scripted server -------------------------------------------------


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


def approx_tokens(text: str) -> int:
    """A stable token count for ``text``: about four characters a token, as real tokenizers do."""
    return math.ceil(len(text) / 4) if text else 0


def text_of(content: JSONValue) -> str:
    """The text of a message ``content``: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def example_of(schema: JSONValue) -> JSONValue:
    """A small value matching a JSON Schema (the fakes' default structured answer): required
    properties only, the first of an ``enum``, the first type of a list of types."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: example_of(properties.get(name, {}))
                for name in schema.get("required") or []}
    if kind == "array":
        return [example_of(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * max(int(schema.get("minLength", 1)), 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return False if kind == "boolean" else None


def structured_schema(body: JSONValue) -> JSONValue:
    """The JSON Schema a chat request asks its answer to match (OpenAI's ``json_schema``
    response format, or Anthropic's forced tool), or None."""
    if not isinstance(body, dict):
        return None
    found = body.get("response_format") or {}
    if isinstance(found, dict) and found.get("type") == "json_schema":
        return (found.get("json_schema") or {}).get("schema") or {}
    choice = body.get("tool_choice") or {}
    if isinstance(choice, dict) and choice.get("type") == "tool":
        for tool in body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
                return tool.get("input_schema") or {}
    return None


def split_words(text: str, pieces: int = 3) -> list[str]:
    """``text`` cut at spaces into at most ``pieces`` parts whose concatenation is ``text``."""
    words = text.split(" ")
    size = max(1, math.ceil(len(words) / pieces))
    parts = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    # Re-attach the spaces the split removed so the deltas add up to the original text.
    return [part + " " for part in parts[:-1]] + parts[-1:] if parts else [""]


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


# --- OpenAI ------------------------------------------------------------------------------

EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Native dimension per embedding model; other model names get 1536."""

OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}

OPENAI_ERROR_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "Request not allowed.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text``: equal texts give equal vectors."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    # Round-trip through float32 so float and base64 answers carry identical values.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f",
                                                             *(x / norm for x in vector))))


def encode_base64_floats(vector: list[float]) -> str:
    """``vector`` as the API's base64 encoding: little-endian float32, base64 text."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


class FakeOpenAI(ScriptedServer):
    """The OpenAI API on 127.0.0.1: ``url`` ends in ``/v1`` like the SDK's default base URL.

    ``api_key`` None accepts any key (a local server such as vLLM); otherwise another key gets
    the API's 401 body. ``models`` extends what ``GET /v1/models`` lists.
    """

    base_path = "/v1"
    request_id_header = "x-request-id"

    def __init__(self, *, api_key: str | None = None, delay: float = 0.0,
                 reply: Reply | None = None, models: Iterable[str] = ()) -> None:
        super().__init__(api_key=api_key, delay=delay, reply=reply)
        self.models = ["gpt-4o-mini", "gpt-4o", *EMBEDDING_DIMENSIONS, *models]

    def authorized(self, request: RecordedRequest) -> bool:
        return self.api_key is None or \
            request.headers.get("authorization") == f"Bearer {self.api_key}"

    def unauthorized(self, request: RecordedRequest) -> ScriptedResponse:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        # The real API echoes a masked key; keep that shape so leaks are testable.
        masked = f"{sent[:3]}{'*' * 8}{sent[-4:]}" if len(sent) > 8 else "****"
        return self.error(401, f"Incorrect API key provided: {masked}. You can find your API "
                               "key at https://platform.openai.com/account/api-keys.")

    def error(self, status: int, message: str | None = None, *, type: str | None = None,
              code: str | None = None) -> ScriptedResponse:
        default_type, default_code = OPENAI_ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return ScriptedResponse(status=status, json={"error": {
            "message": message or OPENAI_ERROR_MESSAGES.get(status, f"HTTP {status}"),
            "type": type or default_type,
            "param": None,
            "code": code if code is not None else default_code,
        }})

    def context_length_error(self) -> ScriptedResponse:
        return self.error(400, "This model's maximum context length is 128000 tokens. However, "
                               "your messages resulted in 130000 tokens.",
                          code="context_length_exceeded")

    def route(self, request: RecordedRequest) -> ScriptedResponse:
        endpoint = (request.method, request.path)
        if endpoint == ("POST", "/v1/chat/completions"):
            return self.chat_completion(request.json)
        if endpoint == ("POST", "/v1/embeddings"):
            return self.embeddings(request.json)
        if endpoint == ("GET", "/v1/models"):
            return ScriptedResponse(json={"object": "list", "data": [
                {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
                for model in self.models]})
        return super().route(request)

    # chat completions

    def chat_completion(self, body: JSONValue) -> ScriptedResponse:
        """A completion answering the last user message; SSE chunks when ``stream`` is true."""
        if not isinstance(body, dict) or not body.get("messages") or not body.get("model"):
            return self.error(400, "'messages' and 'model' are required properties.")
        messages = body["messages"]
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        if json_mode and not any("json" in text_of(m.get("content")).lower() for m in messages):
            return self.error(400, "'messages' must contain the word 'json' in some form, to use "
                                   "'response_format' of type 'json_object'.", code=None)
        last_user = next((text_of(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user"), "")
        text = self.reply_text(body, last_user)
        schema = structured_schema(body)
        if schema is not None and self.reply is None:
            text = json.dumps(example_of(schema))
        elif json_mode and self.reply is None:
            text = json.dumps({"echo": last_user})
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "stop"
        if limit is not None and approx_tokens(text) > limit:
            text, finish_reason = text[:limit * 4], "length"
        # Chat formatting costs a few tokens per message, as tiktoken's count for chat does.
        prompt_tokens = sum(approx_tokens(text_of(m.get("content"))) + 4 for m in messages) + 3
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": approx_tokens(text),
                 "total_tokens": prompt_tokens + approx_tokens(text),
                 "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens,
                                                                prompt_tokens)},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        ident, model, created = self.new_id("chatcmpl-"), body["model"], int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return ScriptedResponse(sse=self._chat_chunks(ident, model, created, text,
                                                          finish_reason, usage, include_usage),
                                    interval=self.stream_interval)
        return ScriptedResponse(json={
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage,
        })

    @staticmethod
    def _chat_chunks(ident: str, model: str, created: int, text: str, finish_reason: str,
                     usage: dict[str, Any], include_usage: bool) -> list[tuple[None, JSONValue]]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, JSONValue]:
            data: dict[str, Any] = {
                "id": ident, "object": "chat.completion.chunk", "created": created,
                "model": model, "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}]}
            if include_usage:
                data["usage"] = None  # every chunk but the last carries a null usage
            return None, data

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": piece}) for piece in split_words(text)]
        chunks.append(chunk({}, finish_reason))
        if include_usage:
            chunks.append((None, {"id": ident, "object": "chat.completion.chunk",
                                  "created": created, "model": model,
                                  "system_fingerprint": "fp_fake", "choices": [],
                                  "usage": usage}))
        chunks.append((None, "[DONE]"))
        return chunks

    # embeddings

    def embeddings(self, body: JSONValue) -> ScriptedResponse:
        """Deterministic vectors for each input, as floats or base64 per ``encoding_format``."""
        if not isinstance(body, dict) or "input" not in body or not body.get("model"):
            return self.error(400, "'input' and 'model' are required properties.")
        inputs = body["input"]
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                       and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or any(i in ("", []) for i in inputs):
            return self.error(400, "'$.input' is invalid. Please check the API reference.")
        texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in inputs]
        model = body["model"]
        dimensions = body.get("dimensions") or EMBEDDING_DIMENSIONS.get(model, 1536)
        if not isinstance(dimensions, int) or dimensions < 1:
            return self.error(400, "Invalid value for 'dimensions'.")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return self.error(400, f"Invalid value for 'encoding_format': {encoding!r}.")
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(text, dimensions)
            data.append({"object": "embedding", "index": index,
                         "embedding": encode_base64_floats(vector) if encoding == "base64"
                         else vector})
        tokens = sum(approx_tokens(t) for t in texts)
        return ScriptedResponse(json={"object": "list", "data": data, "model": model,
                                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running :class:`FakeOpenAI` that accepts any key; stopped after the test."""
    with FakeOpenAI() as server:
        yield server
