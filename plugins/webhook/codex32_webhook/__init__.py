"""Webhook notifier: POSTs each notification as HMAC-signed JSON to a URL the workspace chose.

Holds the notifier, the signature scheme and :func:`verify_signature` for receivers. It must not
follow redirects, reach private networks unless the operator allows it (``codex32.outbound``),
or put the signing secret in a log line, a repr or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from codex32.plugins.api import (
    ConfigInvalid,
    HealthResult,
    Notification,
    Notifier,
    UnsafeURL,
    check_url,
    delivery,
    hookimpl,
    resolve_url,
)

__version__ = "0.1.0"
__all__ = ["WebhookNotifier", "register_notifiers", "sign", "verify_signature"]


SIGNATURE_HEADER = "X-Codex32-Signature"
EVENT_HEADER = "X-Codex32-Event"
DELIVERY_HEADER = "X-Codex32-Delivery"
USER_AGENT = f"Codex-32-Webhook/{__version__}"
DEFAULT_TOLERANCE_SECONDS = 300

_NOT_HEADER_SAFE = re.compile(r"[^\x21-\x7e]")
# Module-level so tests can observe the backoff without waiting for it.
_sleep = time.sleep


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Codex32-Signature`` value: HMAC-SHA256 of ``f"{timestamp}.{body}"``."""
    digest = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes | str,
                     tolerance: float = DEFAULT_TOLERANCE_SECONDS, *,
                     now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` s old.

    For receivers: pass the raw request body exactly as received, before parsing the JSON.
    Several ``v1=`` entries are accepted (any may match), which allows rotating secrets. The
    time window stops an attacker replaying an old delivery; also dedupe on the delivery id.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, raw, timestamp).partition("v1=")[2].encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures)


class WebhookNotifier(Notifier):
    """POSTs ``{id, event, workspace_id, payload, sent_at}`` as JSON, signed and retried."""

    id = "webhook"
    title = "Webhook"
    description = (
        "POSTs each notification as JSON to your URL, signed with HMAC-SHA256 in the "
        "X-Codex32-Signature header; retries server errors and rate limits with backoff."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "url": {
                "type": "string", "format": "uri", "minLength": 1, "maxLength": 2048,
                "description": "Where to POST notifications (https recommended).",
            },
            **delivery.POLICY_PROPERTIES,
        },
        "required": ["url"],
        "additionalProperties": False,
    }
    secrets = ("signing_secret",)
    capabilities = frozenset({"signed", "retries"})

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.validate_config(self.config)
        checked = resolve_url(self.config["url"], resolve=False)  # validated just above
        self._url: str = checked.url
        self._host: str = checked.host
        self._policy = delivery.Policy.from_config(self.config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Raise ``ConfigInvalid`` when the URL is malformed or a refused target.

        Checks the shape and IP literals only: host names are resolved at send time, because
        their addresses may change between now and then.
        """
        url = config.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigInvalid("the webhook needs a url", {"url": ["required"]})
        try:
            check_url(url, resolve=False)
        except UnsafeURL as exc:
            raise ConfigInvalid(f"webhook url: {exc}", {"url": [str(exc)]}) from None

    def notify(self, notification: Notification) -> None:
        """POST the notification; retry connection errors, 5xx and 429; raise after the last."""
        secret = self.secret("signing_secret")
        if not secret:
            raise ConfigInvalid("the webhook notifier needs its signing_secret secret",
                                {"signing_secret": ["required"]})
        delivery_id = notification.id or uuid.uuid4().hex
        # One body for every attempt, so a receiver can dedupe on the id; only the signature's
        # timestamp is renewed per attempt, to stay inside the receiver's tolerance window.
        body = json.dumps({
            "id": delivery_id,
            "event": notification.event,
            "workspace_id": notification.workspace_id,
            "payload": notification.payload,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: _header_safe(notification.event),
            DELIVERY_HEADER: _header_safe(delivery_id),
        }

        def signed() -> dict[str, str]:
            return {**headers, SIGNATURE_HEADER: sign(secret, body, int(time.time()))}

        delivery.deliver(self._url, body, signed, self._policy,
                         f"webhook delivery {delivery_id} to {self._host}",
                         reading=_reading, sleep=_sleep)

    def health_check(self) -> HealthResult:
        """Check the secret is set and the URL resolves to an allowed target. Sends nothing."""
        if not self.secret("signing_secret"):
            return HealthResult(ok=False, detail="the signing_secret secret is not set")
        started = time.perf_counter()
        try:
            resolve_url(self._url)
        except UnsafeURL as exc:
            return HealthResult(ok=False, detail=str(exc))
        return HealthResult(ok=True, detail=f"{self._host} is an allowed target; nothing sent",
                            latency_ms=(time.perf_counter() - started) * 1000)


def _reading(answer: delivery.Answer, policy: delivery.Policy) -> delivery.Failure | None:
    """The usual reading; a refusal most often means the receiver verifies another secret."""
    return delivery.judge(answer, policy, refused="the receiver refused the delivery (check "
                                                  "the signing secret it verifies with)")


def _header_safe(value: str) -> str:
    """A header value with no spaces or control characters, so it cannot inject headers."""
    return _NOT_HEADER_SAFE.sub("_", value)[:200]


@hookimpl
def register_notifiers(register):
    """Provide the webhook notifier."""
    register(WebhookNotifier)
