"""The host's end of a run's channel: the platform services a bot calls, bounded per run.

A run whose request carries :class:`BotServices` gets one end of a socketpair (the bot's end,
inherited by the launcher); the supervisor's pump loop reads this end
(:meth:`ChannelServer.on_readable`, :meth:`ChannelServer.expire`), so a run that makes no
call costs no thread.
The frames are those of :mod:`codex32.execution.channel_client` (a 4-byte length, then JSON).
Each call runs the worker's handler (``BotServices.call``) on a thread of its own, and the
bounds hold per run whatever the bot writes on its fd:

- at most ``max_calls`` calls, ``max_concurrent`` at a time (a call answered on its deadline
  still counts until its handler returns, so a hung service cannot pile up threads);
- each call answered within ``call_timeout_seconds`` and before the run's own deadline;
- a frame over ``max_message_bytes``, or one that is not a call, closes the channel with an
  error the bot sees, and so does a request past :data:`MAX_REFUSED` refused for a limit;
  a reply over the cap becomes an error reply;
- bytes only: descriptors the bot passes are discarded by the kernel (no ancillary data is
  read), and the socket is connected to this end and nothing else.

The channel closes when the run ends (:meth:`ChannelServer.close`): the bot's pending calls
fail at once. No Flask, no database, no services here: the handler is the worker's.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from codex32.execution.channel_client import HEADER_BYTES, frame
from codex32.plugins.interfaces import BotServices, ServiceError

log = logging.getLogger(__name__)

SEND_SECONDS = 5.0  # a bot that stops reading its replies loses its channel after this
READ_BYTES = 1 << 16
# Requests refused for a limit (the calls made, too many in flight, the run's time up) before
# the channel closes: none is a call, so no other bound counts them, and each costs the
# worker's process a parse (up to the size cap) and a reply, time every other run shares.
MAX_REFUSED = 100


class _Refused(Exception):
    """The bot wrote something that is not a call: the channel closes with this message."""


class ChannelServer:
    """One run's calls until :meth:`close`; ``bot_fd`` is the end the run inherits, ``host``
    the end the supervisor watches."""

    def __init__(self, services: BotServices, deadline: float) -> None:
        self.services = services
        self.deadline = deadline  # the run's own (time.monotonic)
        self.host, self._bot = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.host.settimeout(SEND_SECONDS)  # bounds sendall; the reader waits in a selector
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: dict[int, float] = {}  # unanswered call id -> its deadline
        self._handling: set[int] = set()  # ids whose handlers run, answered or not
        self._total = 0
        self._refused = 0
        self._closed = False
        self._buffer = bytearray()

    @property
    def bot_fd(self) -> int:
        return self._bot.fileno()

    def started(self) -> None:
        """The run has its copy of the bot's end: close this process's."""
        self._bot.close()

    def close(self) -> None:
        """End the channel: pending calls fail in the bot, late answers are dropped."""
        self._shut()
        self._bot.close()
        with self._send_lock:  # no answer is half-written when the socket goes
            self.host.close()

    # --- reading calls ---------------------------------------------------------------------

    def on_readable(self) -> bool:
        """Read what the bot sent and start its calls; False once the channel is closed."""
        try:
            chunk = self.host.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            chunk = b""
        if not chunk or self._closed:
            self._shut()
            return False
        self._buffer += chunk
        try:
            while (body := _take_frame(self._buffer, self.services.max_message_bytes)) is not None:
                self._accept(body)
        except _Refused as exc:
            self._send(_error(None, "ProtocolError", str(exc)), wait=False)
            self._shut()
            return False
        return True

    def _shut(self) -> None:
        """Stop taking calls; the bot's reads end (its pending calls fail at once)."""
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):
            self.host.shutdown(socket.SHUT_RDWR)

    def _accept(self, body: bytes) -> None:
        """Start one call, or answer at once why it cannot run."""
        try:
            call = json.loads(body)
        except ValueError:
            raise _Refused("a request on the channel is not JSON") from None
        except RecursionError:  # the C decoder's depth guard: not the supervisor's problem
            raise _Refused("a request on the channel is nested too deeply") from None
        if not (isinstance(call, dict) and type(call.get("id")) is int
                and isinstance(call.get("method"), str) and isinstance(call.get("params"), dict)):
            raise _Refused("a request on the channel must be {\"id\": int, \"method\": str, "
                           "\"params\": object}")
        call_id, limits = call["id"], self.services
        now = time.monotonic()
        with self._lock:
            # A call answered on its deadline still runs: its late answer must not go to a
            # new call of the same id.
            if call_id in self._pending or call_id in self._handling:
                raise _Refused(f"two calls in flight share the id {call_id}")
            if now >= self.deadline:  # read in the pass where the run's time ran out
                refused, kind = "the run's time is up", "Timeout"
            elif self._total >= limits.max_calls:
                refused, kind = (f"this run has made the {limits.max_calls} calls it may "
                                 "make to the platform", "LimitExceeded")
            elif len(self._handling) >= limits.max_concurrent:
                refused, kind = (f"this run already has {limits.max_concurrent} calls in "
                                 "flight, the most it may have at a time", "LimitExceeded")
            else:
                refused, kind = None, ""
                self._total += 1
                self._handling.add(call_id)
                timeout = min(limits.call_timeout_seconds, self.deadline - now)
                self._pending[call_id] = now + timeout
        if refused is not None:
            self._refused += 1
            if self._refused > MAX_REFUSED:
                raise _Refused(f"this run sent more than {MAX_REFUSED} requests the platform "
                               "refused for its limits; the channel is closed")
            self._send(_error(call_id, kind, refused), wait=False)
            return
        # The call's thread carries the run's context (the process's runtime, the log fields).
        threading.Thread(target=contextvars.copy_context().run,
                         args=(self._run_call, call_id, call["method"], call["params"], timeout),
                         name="codex32-run-call", daemon=True).start()

    def _run_call(self, call_id: int, method: str, params: dict[str, Any],
                  timeout: float) -> None:
        try:
            reply = {"id": call_id, "ok": True,
                     "result": self.services.call(method, params, timeout)}
        except ServiceError as exc:
            reply = _error(call_id, exc.type, str(exc))
        except Exception:
            log.exception("a platform service failed a bot's call to %s", method[:64])
            reply = _error(call_id, "ServiceError", "the platform could not answer this call")
        finally:
            # Before the answer (the bot may call again as soon as it has it), and with the
            # id's release, so no new call of the id is answered with this reply.
            with self._lock:
                self._handling.discard(call_id)
                due = self._pending.pop(call_id, None) is not None and not self._closed
        if due:  # not answered on its deadline already
            self._send(reply)

    # --- answering -------------------------------------------------------------------------

    def expire(self) -> None:
        """Answer the calls whose deadline passed (their handlers keep running, counted)."""
        if not self._pending:
            return
        now = time.monotonic()
        with self._lock:
            late = [call_id for call_id, due in self._pending.items() if due <= now]
        for call_id in late:
            message = ("the run's time is up" if now >= self.deadline else
                       f"the call took longer than {self.services.call_timeout_seconds:g} s")
            self._answer(call_id, _error(call_id, "Timeout", message), wait=False)

    def _answer(self, call_id: int, reply: dict[str, Any], wait: bool = True) -> None:
        """Send ``reply`` unless the call was answered already (on its deadline)."""
        with self._lock:
            if self._pending.pop(call_id, None) is None or self._closed:
                return
        self._send(reply, wait)

    def _send(self, reply: dict[str, Any], wait: bool = True) -> None:
        """Send one reply; ``wait`` False (the supervisor's thread) gives up at once when the
        bot does not read, closing the channel, and never waits for another reply's sender
        (a handler's, which may wait SEND_SECONDS for a bot that does not read): the reply
        then follows that one on a thread of its own."""
        cap = self.services.max_message_bytes
        try:
            data = json.dumps(reply, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError, UnicodeEncodeError):
            log.error("a platform service answered a bot's call with data that is not JSON")
            data = _encoded_error(reply, "ServiceError",
                                  "the platform could not answer this call")
        if len(data) > cap:
            data = _encoded_error(reply, "ReplyTooLarge",
                                  f"the answer is {len(data)} bytes, more than the {cap} a "
                                  "reply may carry")
        if wait:
            with self._send_lock:
                self._write(frame(data), wait=True)
        elif self._send_lock.acquire(blocking=False):
            try:
                self._write(frame(data), wait=False)
            finally:
                self._send_lock.release()
        else:
            threading.Thread(target=self._send_later, args=(frame(data),),
                             name="codex32-run-reply", daemon=True).start()

    def _send_later(self, data: bytes) -> None:
        with self._send_lock:
            self._write(data, wait=True)

    def _write(self, data: bytes, wait: bool) -> None:
        """Write one framed reply, holding the send lock."""
        try:
            if wait:
                self.host.sendall(data)
            else:  # the socket is non-blocking underneath: never stall the supervisor
                view = memoryview(data)
                while view:
                    view = view[os.write(self.host.fileno(), view):]
        except OSError:  # the run is gone, or stopped reading its replies
            self._shut()


def _take_frame(buffer: bytearray, cap: int) -> bytes | None:
    """Cut one whole frame's body off the front of ``buffer`` (None until one is there)."""
    if len(buffer) < HEADER_BYTES:
        return None
    size = int.from_bytes(buffer[:HEADER_BYTES], "big")
    if size > cap:
        raise _Refused(f"a request of {size} bytes is over the {cap}-byte cap of a call")
    if len(buffer) < HEADER_BYTES + size:
        return None
    body = bytes(buffer[HEADER_BYTES:HEADER_BYTES + size])
    del buffer[:HEADER_BYTES + size]
    return body


def _error(call_id: int | None, kind: str, message: str) -> dict[str, Any]:
    return {"id": call_id, "ok": False, "error": {"type": kind, "message": message}}


def _encoded_error(reply: dict[str, Any], kind: str, message: str) -> bytes:
    return json.dumps(_error(reply.get("id"), kind, message)).encode("utf-8")
