"""Slack notifier: posts each notification to a Slack incoming webhook as a Block Kit message.

Holds the notifier and the message layout. The webhook URL is the credential, so it is a secret:
it must never appear in a log line, a repr or an error message (only its host may). It must not
follow redirects, nor reach private hosts unless the operator allows it (``codex32.outbound``).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codex32.outbound import UnsafeURL, pinned_connection, private_urls_allowed, resolve_url
from codex32.plugins import hookimpl
from codex32.plugins.errors import (
    ConfigInvalid,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.plugins.interfaces import HealthResult, Notification, Notifier

__version__ = "0.1.0"
__all__ = ["SlackNotifier", "build_message", "register_notifiers"]

log = logging.getLogger(__name__)

SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
USER_AGENT = f"Codex-32-Slack/{__version__}"

_MAX_SECTION_CHARS = 3000  # Slack's limit for a section's text
_MAX_FIELDS = 10
_MAX_VALUE_CHARS = 200
_MAX_RESPONSE_BYTES = 16 * 1024
_MAX_BACKOFF_SECONDS = 60.0
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


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, whether another attempt may help, and what to raise if not."""

    reason: str
    retry: bool
    error: type[ProviderError] = ProviderError
    retry_after: float | None = None

    def exception(self, message: str) -> ProviderError:
        if issubclass(self.error, ProviderRateLimited):
            return self.error(message, retry_after=self.retry_after)
        return self.error(message)


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
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
            "backoff_seconds": {"type": "number", "minimum": 0, "maximum": 60, "default": 0.5},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 60,
                                "default": 10},
            "max_retry_after_seconds": {"type": "number", "minimum": 0, "maximum": 600,
                                        "default": 60},
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
        self._max_attempts = int(self.config.get("max_attempts", 3))
        self._backoff = float(self.config.get("backoff_seconds", 0.5))
        self._timeout = float(self.config.get("timeout_seconds", 10))
        self._max_retry_after = float(self.config.get("max_retry_after_seconds", 60))

    def notify(self, notification: Notification) -> None:
        """Post the message; retry connection errors, 5xx and 429 (Retry-After), then raise."""
        url, host = self._webhook_url()
        body = json.dumps(build_message(notification, channel=self._channel,
                                        username=self._username),
                          separators=(",", ":"), ensure_ascii=False).encode()
        for attempt in range(1, self._max_attempts + 1):
            failure = self._attempt(url, body)
            if failure is None:
                return
            if not failure.retry or attempt == self._max_attempts:
                raise failure.exception(f"Slack post to {host} failed after {attempt} "
                                        f"attempt(s): {failure.reason}")
            delay = failure.retry_after
            if delay is None:
                delay = min(self._backoff * 2 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
            log.warning("Slack post to %s failed (attempt %d of %d): %s; retrying in %.2fs",
                        host, attempt, self._max_attempts, failure.reason, delay)
            _sleep(delay)

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

    def _attempt(self, url: str, body: bytes) -> _Failure | None:
        """One POST. None when Slack accepted the message, else what went wrong."""
        try:
            # Resolved and checked at every attempt; the connection goes to what was checked.
            target = resolve_url(url)
        except UnsafeURL as exc:
            return _Failure(f"target refused: {exc}", retry=False)
        connection = pinned_connection(target, timeout=self._timeout)
        try:
            connection.request("POST", target.request_target, body=body, headers={
                "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT})
            response = connection.getresponse()
            answer = response.read(_MAX_RESPONSE_BYTES).decode(errors="replace").strip()
            status, retry_after = response.status, response.getheader("Retry-After")
        except TimeoutError:
            return _Failure(f"no answer within {self._timeout:g}s", retry=True,
                            error=ProviderTimeout)
        except ssl.SSLCertVerificationError as exc:
            return _Failure(f"TLS certificate rejected: {exc.verify_message}", retry=False)
        except (OSError, http.client.HTTPException) as exc:
            # Safe to show: these messages never carry the request's path.
            return _Failure(f"connection failed: {type(exc).__name__}: {exc}", retry=True)
        finally:
            connection.close()
        return self._judge(status, retry_after, answer)

    def _judge(self, status: int, retry_after_header: str | None,
               answer: str) -> _Failure | None:
        """Turn Slack's answer into success, a retryable failure or a final one."""
        if 200 <= status < 300:
            return None
        code = answer if _SLACK_ERROR_CODE.fullmatch(answer) else ""
        said = f"answered {status} {code}".rstrip()
        if 300 <= status < 400:
            return _Failure(f"{said}, a redirect; redirects are not followed", retry=False)
        if status == 429 or status >= 500:
            retry_after = _parse_retry_after(retry_after_header)
            if retry_after is not None and retry_after > self._max_retry_after:
                return _Failure(f"{said} with Retry-After {retry_after:g}s, longer than the "
                                f"{self._max_retry_after:g}s allowed", retry=False,
                                error=ProviderRateLimited, retry_after=retry_after)
            error = ProviderRateLimited if status == 429 else ProviderError
            return _Failure(said, retry=True, error=error, retry_after=retry_after)
        if status in (401, 403) or code in _REVOKED:
            return _Failure(f"{said}; the webhook URL is invalid or revoked", retry=False,
                            error=ProviderAuthError)
        return _Failure(said, retry=False)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@hookimpl
def register_notifiers(register):
    """Provide the Slack notifier."""
    register(SlackNotifier)
