"""LogNotifier: one structured line per notification on the codex32.notify logger."""

from __future__ import annotations

import json
import logging

from codex32.plugins.defaults.log_notifier import LogNotifier
from codex32.plugins.interfaces import Notification

NOTE = Notification(event="execution.failed", workspace_id="ws-1", id="n-1",
                    payload={"bot": "b-1", "error": "line one\nline two"})


def logged_json(record: logging.LogRecord) -> dict:
    return json.loads(record.getMessage().removeprefix("notification "))


def test_a_notification_is_one_json_line(caplog):
    caplog.set_level(logging.INFO, logger="codex32.notify")

    LogNotifier().notify(NOTE)

    [record] = caplog.records
    assert record.name == "codex32.notify" and record.levelno == logging.INFO
    assert "\n" not in record.getMessage()
    assert logged_json(record) == {"event": "execution.failed", "workspace_id": "ws-1",
                                   "notification_id": "n-1", "payload": NOTE.payload}
    assert record.notification["event"] == "execution.failed"


def test_level_and_payload_are_configurable(caplog):
    caplog.set_level(logging.DEBUG, logger="codex32.notify")

    LogNotifier({"level": "WARNING", "include_payload": False}).notify(NOTE)
    LogNotifier({"max_payload_chars": 10}).notify(NOTE)

    quiet, truncated = caplog.records
    assert quiet.levelno == logging.WARNING and "payload" not in logged_json(quiet)
    assert logged_json(truncated)["payload_truncated"] is True
    assert len(logged_json(truncated)["payload_text"]) == 10
