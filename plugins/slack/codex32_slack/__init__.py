"""Slack notifier: posts each notification to a Slack incoming webhook as a Block Kit message.

Holds the notifier and the message layout. The webhook URL is the credential, so it is a secret:
it must never appear in a log line, a repr or an error message (only its host may). It must not
follow redirects, nor reach private hosts unless the operator allows it (``codex32.outbound``).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from codex32.plugins.api import (
    ConfigInvalid,
    HealthResult,
    Notification,
    Notifier,
    ProviderAuthError,
    UnsafeURL,
    delivery,
    hookimpl,
    private_urls_allowed,
    resolve_url,
)

__version__ = "0.1.0"
__all__ = ["SlackNotifier", "build_message", "register_notifiers"]


SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
USER_AGENT = f"Codex-32-Slack/{__version__}"

_MAX_SECTION_CHARS = 3000  # Slack's limit for a section's text
_MAX_FIELDS = 10
_MAX_VALUE_CHARS = 200
# Slack answers errors with a short code ("invalid_payload"); anything else is not repeated.
_SLACK_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_REVOKED = frozenset({"invalid_token", "no_service", "no_active_hooks", "team_disabled"})
# Module-level so tests can observe the backoff without waiting for it.
_sleep = time.sleep


def build_message(notification: Notification, *, channel: str | None = None,
                  username: str | None = None) -> dict[str, Any]:
    """The incoming-webhook JSON: fallback ``text`` plus a section and a context block."""
    lines = [f"*{_escape(notification.event)}* in workspace `{_escape(notification.workspace_id)}`"]
    items = list(notification.payload.items())
    for key, value in items[:_MAX_FIELDS]:
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[:_MAX_VALUE_CHARS] + "…"
        lines.append(f"• *{_escape(str(key))}*: {_escape(shown)}")
    if len(items) > _MAX_FIELDS:
        lines.append(f"_…and {len(items) - _MAX_FIELDS} more_")
    section = "\n".join(lines)
    if len(section) > _MAX_SECTION_CHARS:
        section = section[:_MAX_SECTION_CHARS - 1] + "…"
    sent_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    context = f"Codex-32 · {sent_at}"
    if notification.id:
        context += f" · notification `{_escape(notification.id)}`"
    message: dict[str, Any] = {
        "text": f"{notification.event} in workspace {notification.workspace_id}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }
    # Only legacy webhooks honour these; app webhooks post to the channel they were made for.
    if channel:
        message["channel"] = channel
    if username:
        message["username"] = username
    return message


def _escape(text: str) -> str:
    """Slack's required escaping, which also stops ``<!channel>``-style mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier(Notifier):
    """Posts a short summary of each notification to a Slack channel."""

    id = "slack"
    title = "Slack"
    description = (
        "Posts each notification to a Slack channel through an incoming webhook "
        "(Slack-compatible webhooks such as Mattermost's work too)."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "channel": {"type": "string", "maxLength": 80,
                        "description": "Channel override (legacy webhooks only), e.g. #ops."},
            "username": {"type": "string", "maxLength": 80,
                         "description": "Sender name override (legacy webhooks only)."},
            **delivery.POLICY_PROPERTIES,
        },
        "additionalProperties": False,
    }
    secrets = ("webhook_url",)
    capabilities = frozenset({"chat", "retries"})

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self._channel: str | None = self.config.get("channel") or None
        self._username: str | None = self.config.get("username") or None
        self._policy = delivery.Policy.from_config(self.config)
        if self.secret("webhook_url"):
            # The URL is a secret the tenant chooses, so a target like any config URL: a
            # refused one is refused when it is saved, not at every send.
            self._webhook_url()

    def notify(self, notification: Notification) -> None:
        """Post the message; retry connection errors, 5xx and 429 (Retry-After), then raise."""
        url, host = self._webhook_url()
        body = json.dumps(build_message(notification, channel=self._channel,
                                        username=self._username),
                          separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        delivery.deliver(url, body, lambda: headers, self._policy, f"Slack post to {host}",
                         reading=_reading, sleep=_sleep)

    def health_check(self) -> HealthResult:
        """Check the webhook URL's shape only: posting would put a message in the channel."""
        try:
            _, host = self._webhook_url()
        except ConfigInvalid as exc:
            return HealthResult(ok=False, detail=str(exc))
        if host in SLACK_HOSTS:
            return HealthResult(ok=True, detail=f"webhook URL on {host} looks valid; not posted")
        return HealthResult(ok=True, detail=f"webhook URL on {host} (not a Slack host; fine for "
                                            "Slack-compatible servers); not posted")

    def _webhook_url(self) -> tuple[str, str]:
        """The checked webhook URL and its host, or ``ConfigInvalid`` naming the host at most.

        https only, since the URL is the credential; plain http is accepted only where the
        operator allows private targets (local Slack-compatible servers, tests).
        """
        url = self.secret("webhook_url")
        if not url:
            raise ConfigInvalid("the Slack notifier needs its webhook_url secret",
                                {"webhook_url": ["required"]})
        schemes = ("https", "http") if private_urls_allowed() else ("https",)
        try:
            checked = resolve_url(url, schemes=schemes, resolve=False)
        except UnsafeURL as exc:
            raise ConfigInvalid(f"Slack webhook_url: {exc}", {"webhook_url": [str(exc)]}
                                ) from None
        return checked.url, checked.host


def _reading(answer: delivery.Answer, policy: delivery.Policy) -> delivery.Failure | None:
    """Slack's answer: its short error code is quoted, and revoked hooks are credential errors."""
    code = answer.body if _SLACK_ERROR_CODE.fullmatch(answer.body) else ""
    said = f"answered {answer.status} {code}".rstrip()
    if not 200 <= answer.status < 300 and code in _REVOKED:
        return delivery.Failure(f"{said}; the webhook URL is invalid or revoked", retry=False,
                                error=ProviderAuthError)
    return delivery.judge(answer, policy, refused="the webhook URL is invalid or revoked",
                          said=said)


@hookimpl
def register_notifiers(register):
    """Provide the Slack notifier."""
    register(SlackNotifier)
