"""A run's figures as the console shows them: timings, resources, status words, pretty JSON.
Pure: the execution comes as the API shows it (a dict), nothing is read here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from codex32.services.executions import ACTIVE

STATUS_WORDS = {"queued": "Queued", "running": "Running", "succeeded": "Succeeded",
                "failed": "Failed", "timed_out": "Timed out", "cancelled": "Cancelled"}


def is_live(execution: Mapping[str, Any]) -> bool:
    """Whether the run may still change (its page keeps polling)."""
    return execution["status"] in ACTIVE


def status_word(status: str) -> str:
    """The status as a person reads it."""
    return STATUS_WORDS.get(status, status)


def format_seconds(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def format_bytes(size: int | None) -> str:
    """``512 B``, ``23.4 MiB``; an em dash when unknown."""
    if size is None:
        return "—"
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"  # pragma: no cover - the loop returns at GiB


def _between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def figures(execution: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label and value of each timing and resource figure, in reading order."""
    return [
        ("Waited in the queue", format_seconds(_between(execution.get("queued_at"),
                                                        execution.get("started_at")))),
        ("Ran for", format_seconds(execution.get("duration_seconds"))),
        ("CPU time", format_seconds(execution.get("cpu_seconds"))),
        ("Peak memory", format_bytes(execution.get("peak_memory_bytes"))),
    ]


def pretty_json(value: Any) -> str:
    """Indented JSON for a ``<pre>`` (the input, the result)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
