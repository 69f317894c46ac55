"""The bot's end of its run's channel to the platform: ``context.llm`` (and, later, more).

A run started with platform services inherits one end of a socketpair; the worker serves the
other (:mod:`codex32.execution.sandbox.channel`). A call is one request frame answered by one
reply frame, each a 4-byte big-endian length and then UTF-8 JSON:
``{"id": 1, "method": "llm.chat", "params": {...}}`` is answered by
``{"id": 1, "ok": true, "result": ...}`` or ``{"id": 1, "ok": false, "error": {"type": ...,
"message": ...}}``. Every failure reaches the bot as :class:`Error`; nothing here waits longer
than the worker lets a call take. The bot names no workspace, provider or key: the worker's
end is bound to the run.

Staged beside the runner; the launcher reads it before the uid drop and loads it when the bot
first touches ``context.llm`` (a run that never does pays nothing for it). So it must not
import codex32 or anything outside the standard library, and it imports ``json`` only
on a bot's first call.
"""

import _thread
import posix
import threading  # loaded on the bot's first touch of context.llm, right before its first call

HEADER_BYTES = 4
NOT_OFFERED = ("this run has no channel to the platform: its executor does not offer "
               "platform services such as context.llm")


class Error(Exception):
    """A call to the platform failed; ``type`` names the kind, the message says why."""

    def __init__(self, message: str, type: str = "ChannelError") -> None:
        super().__init__(message)
        self.type = type


Error.__module__ = "context.llm"  # how a bot names it (``except context.llm.Error``)


def frame(body: bytes) -> bytes:
    """``body`` with its length in front."""
    return len(body).to_bytes(HEADER_BYTES, "big") + body


class Channel:
    """Calls over the run's channel fd; the bot's threads may call at the same time, and wait
    for a turn beyond the ``max_concurrent`` calls the worker serves at once."""

    def __init__(self, fd: int | None, max_message_bytes: int, max_concurrent: int = 1) -> None:
        self._fd = fd
        self._max = max_message_bytes
        self._max_concurrent = max(max_concurrent, 1)
        self._turns = threading.Semaphore(self._max_concurrent)
        self._closed: str | None = None if fd is not None else NOT_OFFERED
        self._guard = _thread.allocate_lock()
        self._send = _thread.allocate_lock()
        self._ready = threading.Condition(self._guard)
        self._reading = False
        self._next_id = 0
        self._replies: dict[int, dict] = {}

    def call(self, method: str, params: dict) -> object:
        """Send one call and wait for its reply; its result, or :class:`Error`."""
        if self._closed is not None:
            raise Error(self._closed, "Unavailable" if self._fd is None else "ChannelClosed")
        import json  # on the first call: json costs as much as an interpreter start

        try:
            body = json.dumps({"id": 0, "method": method, "params": params},
                              ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise Error(f"the call's parameters are not plain JSON data: {exc}",
                        "InvalidRequest") from None
        with self._guard:
            self._next_id += 1
            call_id = self._next_id
        # The id goes in last: the size check below is about the same bytes that are sent.
        try:
            data = ('{"id": ' + str(call_id) + body[len('{"id": 0'):]).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Error(f"the call's parameters are not valid text: {exc}",
                        "InvalidRequest") from None
        if len(data) > self._max:
            raise Error(f"the request is {len(data)} bytes; a call may send at most "
                        f"{self._max}", "RequestTooLarge")
        with self._turns:
            self._write(frame(data))
            reply = self._wait(call_id)
        if reply.get("ok") is True:
            return reply.get("result")
        error = reply.get("error")
        if not isinstance(error, dict):
            error = {}
        raise Error(str(error.get("message") or "the call failed"),
                    str(error.get("type") or "ServiceError"))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        assert self._fd is not None  # call() refuses first when the run has no channel
        with self._send:
            try:
                while view:
                    view = view[posix.write(self._fd, view):]
            except OSError as exc:
                reason = f"the channel to the platform is closed ({exc.strerror})"
                self._close(reason)
                raise Error(self._closed or reason, "ChannelClosed") from None

    def _wait(self, call_id: int) -> dict:
        """The reply to ``call_id``; one waiting thread at a time reads for all of them."""
        with self._ready:
            while call_id not in self._replies:
                if self._closed is not None:
                    raise Error(self._closed, "ChannelClosed")
                if self._reading:
                    self._ready.wait()
                    continue
                self._reading = True
                self._guard.release()
                try:
                    reply = self._read_reply()
                finally:
                    self._guard.acquire()
                    self._reading = False
                if reply is not None:
                    self._file(reply)
                self._ready.notify_all()
            return self._replies.pop(call_id)

    def _file(self, reply: object) -> None:
        """Keep a reply for its caller; a reply to no call in particular closes the channel."""
        if not isinstance(reply, dict):
            self._closed = "the platform sent a malformed reply"
            return
        if isinstance(reply.get("id"), int):
            self._replies[reply["id"]] = reply
            return
        error = reply.get("error")
        if not isinstance(error, dict):
            error = {}
        self._closed = str(error.get("message") or "the platform closed the channel")

    def _read_reply(self) -> object:
        """One reply, decoded; None (and the channel closed) at the end of the stream."""
        import json

        header = self._read_exactly(HEADER_BYTES)
        if header is None:
            return None
        size = int.from_bytes(header, "big")
        if size > self._max:
            self._close(f"the platform sent a reply of {size} bytes, over the {self._max} cap")
            return None
        body = self._read_exactly(size)
        if body is None:
            return None
        try:
            return json.loads(body)
        except ValueError:
            self._close("the platform sent a malformed reply")
            return None

    def _read_exactly(self, size: int) -> bytes | None:
        assert self._fd is not None  # call() refuses first when the run has no channel
        chunks = []
        while size:
            try:
                chunk = posix.read(self._fd, min(size, 1 << 16))
            except OSError as exc:
                chunk = b""
                reason = f"the channel to the platform is closed ({exc.strerror})"
            else:
                reason = "the channel to the platform is closed (the run is ending)"
            if not chunk:
                self._close(reason)
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _close(self, reason: str) -> None:
        if self._closed is None:
            self._closed = reason


def _answer(result: object) -> dict:
    """A service's result, which is always a JSON object."""
    if not isinstance(result, dict):
        raise Error("the platform sent a malformed reply", "ChannelError")
    return result


class LLM:
    """``context.llm``: the workspace's language models, served by the worker, metered to
    this run. No key, no network, no provider choice inside the sandbox."""

    Error = Error

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def chat(self, messages: object, model: str | None = None, **params: object) -> dict:
        """Answer a chat: ``messages`` is a string (one user message) or a list of
        ``{"role": "system" | "user" | "assistant", "content": str}``; ``params`` may be
        ``temperature``, ``max_tokens`` and ``json_mode``. Returns ``{"text", "model",
        "usage": {"input_tokens", "output_tokens"}, "finish_reason"}``."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return _answer(self._channel.call("llm.chat",
                                          {"messages": messages, "model": model, **params}))

    def embed(self, texts: object) -> dict:
        """Embed a list of strings with the workspace's embedder; returns ``{"vectors",
        "model", "dimension"}`` with one vector per text, in order."""
        return _answer(self._channel.call("llm.embed", {"texts": texts}))

    def search(self, query: str, kind: str | None = None, collection: str | None = None,
               limit: int = 10) -> dict:
        """Search the workspace's documents and bots (``context.search``): ``kind`` is
        ``"bots"`` or ``"documents"`` (both when None), ``collection`` a collection id.
        Returns ``{"items": [{"chunk_id", "kind", "scores", "passage", "heading",
        "location", "document" | "bot"}], ...}``, best first."""
        return _answer(self._channel.call("search.query", {
            "q": query, "kind": kind, "collection": collection, "limit": limit}))

    def __repr__(self) -> str:
        return "<context.llm>"
