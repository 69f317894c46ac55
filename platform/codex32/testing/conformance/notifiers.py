"""The suite of notifiers."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from codex32.plugins.interfaces import (
    Notification,
)
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import (
    WORKSPACE_A,
    _poll,
)


class NotifierConformance(PluginConformance):
    """A :class:`Notifier`: ``notify()`` delivers, as :meth:`delivered` observes."""

    kind = "notifier"
    methods = ("notify",)
    delivery_timeout: ClassVar[float] = 5.0

    def notification(self) -> Notification:
        """A notification with a fresh id."""
        return Notification(event="conformance.check", workspace_id=WORKSPACE_A,
                            payload={"bot": "conformance", "count": 1},
                            id=f"ntf-{uuid.uuid4().hex[:12]}")

    def delivered(self, notification: Notification) -> bool:
        """Whether ``notification`` reached its destination (e.g. your local receiver got a
        request carrying its id). Every notifier suite must implement this probe."""
        raise NotImplementedError(f"{type(self).__name__} must implement delivered()")

    def exercise(self, plugin: Any) -> object:
        return plugin.notify(self.notification())

    def test_notify_delivers(self):
        """``notify()`` returns and the notification arrives (polled until ``delivery_timeout``)."""
        notification = self.notification()
        self.build().notify(notification)
        assert _poll(lambda: self.delivered(notification), self.delivery_timeout), (
            f"notify() returned but delivered() never saw {notification.id}")
