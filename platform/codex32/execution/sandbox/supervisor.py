"""Supervising one started run: its pipes, its wall clock and cancellation, and stopping it.

Reads capped output and the result record while feeding the payload, and the run's calls to
the platform on its channel when it has one; returns when the process exits, the deadline
passes or the cancel event is set. No Flask, no database, no signal handlers (it runs in
worker threads).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from codex32.execution.sandbox.channel import ChannelServer
from codex32.plugins.interfaces import ExecutionLimits

POLL_SECONDS = 0.05  # how often the cancel event is looked at while a bot runs
DRAIN_SECONDS = 0.5  # how long to wait for pipes to close after the bot is gone
RECORD_OVERHEAD = 64 * 1024  # room for the record's envelope and an error traceback
DIAGNOSTICS_BYTES = 8 * 1024


# --- supervision -----------------------------------------------------------------------------


class Capture:
    """What one pipe delivered, kept up to ``cap`` bytes; the rest is counted and dropped."""

    __slots__ = ("cap", "data", "dropped")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = max(self.cap - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += len(chunk) - min(room, len(chunk))


class Run:
    """One started process and its pipes, pumped until it ends or has to be stopped."""

    def __init__(self, proc: subprocess.Popen, stdin_data: bytes, result_fd: int,
                 limits: ExecutionLimits, channel: ChannelServer | None = None,
                 on_output: Callable[[bytes], None] | None = None) -> None:
        self.proc = proc
        self.on_output = on_output
        # Started with a pipe each (see launch.py).
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.stdin, self.stdout, self.stderr = proc.stdin, proc.stdout, proc.stderr
        self.channel = channel
        self.output = Capture(limits.max_output_bytes)
        # stderr of bwrap and of the interpreter before the launcher points the bot's
        # stderr at the log pipe: sandbox trouble, never the bot's output.
        self.diagnostics = Capture(DIAGNOSTICS_BYTES)
        self.result = Capture(limits.max_result_bytes + RECORD_OVERHEAD)
        self.selector = selectors.DefaultSelector()
        self.pending = memoryview(stdin_data)
        self.pidfd = _pidfd(proc.pid)
        self.result_fd = result_fd
        os.set_blocking(self.stdin.fileno(), False)
        self.selector.register(self.stdin, selectors.EVENT_WRITE, "stdin")
        self._feed_stdin()  # a typical payload fits the pipe: written before the first wait
        self.selector.register(self.stdout, selectors.EVENT_READ, self.output)
        self.selector.register(self.stderr, selectors.EVENT_READ, self.diagnostics)
        self.selector.register(result_fd, selectors.EVENT_READ, self.result)
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ, "exit")
        if channel is not None:
            self.selector.register(channel.host, selectors.EVENT_READ, "channel")

    def pump(self, deadline: float, cancel: threading.Event | None) -> str | None:
        """Move data until the process exits (None), ``deadline`` passes or ``cancel`` is set."""
        while True:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            now = time.monotonic()
            if now >= deadline:
                return "timed_out"
            exited = False
            for key, _ in self.selector.select(min(deadline - now, POLL_SECONDS)):
                if key.data == "exit":
                    exited = True
                elif key.data == "stdin":
                    self._feed_stdin()
                elif key.data == "channel":
                    assert self.channel is not None  # registered only with a channel
                    if not self.channel.on_readable():
                        self.selector.unregister(key.fileobj)
                else:
                    self._read(key.fileobj, key.data)
            if self.channel is not None:
                self.channel.expire()
            if exited or (self.pidfd is None and _has_exited(self.proc.pid)):
                return None

    def drain(self, seconds: float) -> None:
        """Read what is left in the pipes, for at most ``seconds`` (a stray writer may linger)."""
        if self.pidfd is not None:
            self.selector.unregister(self.pidfd)
        if self.channel is not None:  # the run is over: no more calls
            with contextlib.suppress(KeyError):  # unregistered when the bot closed it
                self.selector.unregister(self.channel.host)
        if not self.stdin.closed:
            self._close_stdin()
        deadline = time.monotonic() + seconds
        while self.selector.get_map() and time.monotonic() < deadline:
            for key, _ in self.selector.select(max(deadline - time.monotonic(), 0)):
                self._read(key.fileobj, key.data)

    def close(self) -> None:
        self.selector.close()
        for closing in (self.stdin.close, self.stdout.close, self.stderr.close,
                        lambda: os.close(self.result_fd)):
            with contextlib.suppress(OSError):
                closing()
        if self.pidfd is not None:
            os.close(self.pidfd)

    def _feed_stdin(self) -> None:
        if not self.pending:
            self._close_stdin()
            return
        try:
            self.pending = self.pending[os.write(self.stdin.fileno(), self.pending[:1 << 16]):]
        except BlockingIOError:
            return
        except OSError:  # the process is gone before reading its payload
            self.pending = self.pending[:0]
        if not self.pending:
            self._close_stdin()

    def _close_stdin(self) -> None:
        self.selector.unregister(self.stdin)
        self.stdin.close()

    def _read(self, fileobj: Any, capture: Capture) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        chunk = os.read(fd, 1 << 16)
        if chunk:
            kept = len(capture.data)
            capture.feed(chunk)
            if capture is self.output and self.on_output is not None:
                self._tell(bytes(capture.data[kept:]))
        else:
            self.selector.unregister(fileobj)


    def _tell(self, output: bytes) -> None:
        """Hand new output to ``on_output``; its failure never disturbs the run."""
        if not output or self.on_output is None:
            return
        try:
            self.on_output(output)
        except Exception:
            self.on_output = None  # a broken listener is dropped; the logs still come at the end


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: poll with waitid instead
        return None


def _has_exited(pid: int) -> bool:
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s children now (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(word) for word in handle.read().split()]
    except (OSError, ValueError):
        return []


def _kill_child(parent: int, child: int) -> None:
    """SIGKILL ``child`` if it is still ``parent``'s (a pidfd and a parent check make sure the
    number was not recycled meanwhile)."""
    try:
        child_fd = os.pidfd_open(child)
    except (AttributeError, OSError):
        return
    try:
        if _parent_of(child) == parent:
            signal.pidfd_send_signal(child_fd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(child_fd)


def kill_bot(bwrap_pid: int, bwrap_pidfd: int | None) -> None:
    """Kill the bot (the child of bwrap's reaper, pid 1 inside) and let the reaper reap it.

    The reaper then exits, which ends the pid namespace, and bwrap reaps the reaper: so the
    bot's CPU time reaches our ``wait4``. Killing the reaper or the process group at once would
    lose it.
    """
    for reaper in children(bwrap_pid):
        for child in children(reaper):
            _kill_child(reaper, child)
    wait_for_exit(bwrap_pidfd)


def wait_for_exit(pidfd: int | None, seconds: float = DRAIN_SECONDS) -> None:
    """Give a process (bwrap, reaping its killed child) up to ``seconds`` to exit."""
    if pidfd is None:
        return
    selector = selectors.DefaultSelector()
    with selector:
        selector.register(pidfd, selectors.EVENT_READ)
        selector.select(seconds)
