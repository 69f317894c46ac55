"""How a run ended, from what its pipes delivered: logs, the result record, the exit status.

Pure functions over the captured bytes; secrets a bot printed are redacted here.
"""

from __future__ import annotations

import json
import math
import os
import signal
from typing import Any

from codex32.execution.sandbox.supervisor import Capture
from codex32.plugins.interfaces import ExecutionLimits

REDACTED = "[REDACTED]"
CUT_MARK = "..."  # how the runner ends a message it cut (runner.MAX_MESSAGE_CHARS)
# The runner refuses results nested deeper (its MAX_DEPTH); a bot writing its own record is
# held to the same bound, so what it wrote can be stored and shown without deep recursion.
MAX_RECORD_DEPTH = 100


def cpu_limit(limits: ExecutionLimits) -> int:
    """The run's CPU seconds per process (RLIMIT_CPU's soft limit)."""
    # Without a CPU limit the wall clock still rules; this backstop bounds any process that
    # would outlive it (each process gets its own RLIMIT_CPU budget).
    cpu = limits.cpu_seconds if limits.cpu_seconds is not None else limits.timeout_seconds + 1
    return max(1, math.ceil(cpu))


def logs_of(capture: Capture, secrets: dict[str, str]) -> tuple[str, bool]:
    """The captured output as text (invalid UTF-8 replaced, ``secrets`` redacted, also one
    the cap cut in two) and whether some was dropped."""
    text = redact(capture.data.decode("utf-8", "replace"), secrets, cut=bool(capture.dropped))
    if not capture.dropped:
        return text, False
    newline = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{newline}[... output truncated: {capture.dropped} bytes dropped]\n", True


def parse_record(capture: Capture, max_result_bytes: int) -> dict[str, Any] | None:
    """The runner's record as ``{"status", "result", "error"}``, or None when none was written."""
    if not capture.data and not capture.dropped:
        return None
    if capture.dropped:
        return {"status": "failed", "error": {
            "type": "ResultTooLarge",
            "message": f"the result is larger than {max_result_bytes} bytes"}}
    try:
        record = json.loads(capture.data.decode("utf-8"))
        if not _within_depth(record, MAX_RECORD_DEPTH + 2):  # the record and its error object
            raise ValueError("nested too deeply")
        peak = record.get("peak_kib")
        peak_kib = peak if isinstance(peak, int) and peak > 0 else None
        if record.get("ok") is True and "result" in record:
            return {"status": "succeeded", "result": record["result"], "peak_kib": peak_kib}
        error = record["error"]
        if record.get("ok") is False and all(isinstance(error.get(k), str)
                                             for k in ("type", "message")):
            return {"status": "timed_out" if record.get("timed_out") is True else "failed",
                    "peak_kib": peak_kib, "error": {
                "type": error["type"], "message": error["message"],
                "traceback": str(error.get("traceback", ""))}}
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError,
            RecursionError):  # the C decoder's depth guard
        pass
    return {"status": "failed", "error": {
        "type": "InvalidResult", "message": "the bot's process wrote an unreadable result"}}


def _within_depth(value: Any, limit: int) -> bool:
    """Whether ``value`` (decoded JSON) nests at most ``limit`` levels, checked without
    recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            stack.extend((child, depth + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return True


def ended_without_record(status: int, cpu_seconds: float, diagnostics: str,
                         limits: ExecutionLimits, via_bwrap: bool) -> tuple[str, dict[str, str]]:
    """Status and error of a run that wrote no record, from how its process ended."""
    number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if number is None and via_bwrap and os.WEXITSTATUS(status) > 128:
        # bwrap exits with 128 + the signal that killed its child, the bot.
        number = os.WEXITSTATUS(status) - 128
    if number == signal.SIGXCPU or cpu_seconds >= cpu_limit(limits) - 0.05:
        return "timed_out", cpu_error(limits)
    if number == signal.SIGKILL:
        return "failed", {"type": "Killed", "message": "the bot's process was killed "
                          "(SIGKILL), most likely for using too much memory"}
    if number is not None:
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        return "failed", {"type": "Crashed", "message": f"the bot's process died of {name}"}
    message = f"the bot's process exited with status {os.WEXITSTATUS(status)} without a result"
    last_line = diagnostics.strip().rpartition("\n")[2]
    return "failed", {"type": "NoResult",
                      "message": message + (f" ({last_line})" if last_line else "")}


def cpu_error(limits: ExecutionLimits) -> dict[str, str]:
    """The error of a run stopped by its CPU limit."""
    return {"type": "CpuTimeExceeded",
            "message": f"the bot used more than {cpu_limit(limits)} s of CPU time"}


def redact(text: str, secrets: dict[str, str], *, cut: bool = False) -> str:
    """``text`` with every secret value of four characters or more replaced; with ``cut``
    (the text stops where more output may follow), also a secret's first four or more
    characters at its very end."""
    # A bot printing its secrets by accident must not put them in stored logs; very short
    # values (and shorter starts) are skipped, since replacing them would garble ordinary text.
    values = sorted((value for value in secrets.values()
                     if isinstance(value, str) and len(value) >= 4), key=len, reverse=True)
    for value in values:
        text = text.replace(value, REDACTED)
    if cut:
        for value in values:
            started = _started_at_end(text, value)
            if started >= 4:
                text = text[:-started] + REDACTED
    return text


def _started_at_end(text: str, value: str) -> int:
    """How many of ``value``'s first characters (fewer than all) ``text`` ends with; linear
    in ``value``'s length (Knuth-Morris-Pratt)."""
    tail = text[1 - len(value):]
    if value[0] not in tail:
        return 0
    fallback = [0] * len(value)
    matched = 0
    for i in range(1, len(value)):
        while matched and value[i] != value[matched]:
            matched = fallback[matched - 1]
        if value[i] == value[matched]:
            matched += 1
        fallback[i] = matched
    matched = 0
    for char in tail:
        while matched and char != value[matched]:
            matched = fallback[matched - 1]
        if char == value[matched]:
            matched += 1
        if matched == len(value):  # a whole value here was already replaced: keep looking
            matched = fallback[matched - 1]
    return matched


def redact_error(error: dict[str, Any] | None, secrets: dict[str, str]) -> dict[str, Any] | None:
    """``error`` with secrets redacted from its texts."""
    if not error or not secrets:
        return error
    return {key: _redact_text(value, secrets) if isinstance(value, str) else value
            for key, value in error.items()}


def _redact_text(text: str, secrets: dict[str, str]) -> str:
    """A message or traceback redacted; where the runner cut a message (``...``, also
    within a traceback), the start of a secret just before the cut is redacted too."""
    parts = redact(text, secrets).split(CUT_MARK)
    return CUT_MARK.join([redact(part, secrets, cut=True) for part in parts[:-1]]
                         + parts[-1:])


