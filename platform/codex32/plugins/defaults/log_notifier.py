"""LogNotifier: delivers a notification as one structured line on the ``codex32.notify`` logger.

The offline default for notifications: nothing leaves the process. It must not print, open
connections, or log secrets (it logs only what the notification carries).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from codex32.plugins.api import Notification, Notifier, Register, hookimpl

logger = logging.getLogger("codex32.notify")

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING}


class LogNotifier(Notifier):
    """Writes each notification to the log: event, workspace, id and (bounded) payload."""

    id = "log"
    title = "Log"
    description = "Writes notifications to the platform log as one JSON line each."
    config_schema = {
        "type": "object",
        "properties": {
            "level": {"enum": list(LEVELS), "default": "INFO"},
            "include_payload": {"type": "boolean", "default": True},
            "max_payload_chars": {"type": "integer", "minimum": 0, "maximum": 100_000,
                                  "default": 4000},
        },
        "additionalProperties": False,
    }
    capabilities = frozenset({"offline"})

    def notify(self, notification: Notification) -> None:
        """Log the notification as one line of JSON (newlines in values stay escaped)."""
        record: dict[str, Any] = {"event": notification.event,
                                  "workspace_id": notification.workspace_id,
                                  "notification_id": notification.id}
        if self.config.get("include_payload", True):
            payload = json.dumps(notification.payload, sort_keys=True, default=str)
            limit = self.config.get("max_payload_chars", 4000)
            if len(payload) > limit:
                record.update(payload_text=payload[:limit], payload_truncated=True)
            else:
                record["payload"] = notification.payload
        line = json.dumps(record, sort_keys=True, default=str)
        logger.log(LEVELS[self.config.get("level", "INFO")], "notification %s", line,
                   extra={"notification": record})


@hookimpl
def register_notifiers(register: Register) -> None:
    """Provide :class:`LogNotifier` (id ``log``)."""
    register(LogNotifier)
