"""Error reporting to Sentry, with secrets scrubbed before an event leaves the process.

:func:`init_sentry` is called once per process (web worker, job worker) when ``SENTRY_DSN`` is
set; :func:`tag_request` is called by the request path once the principal is known. Every error
event and transaction goes through :func:`scrub_event` last, after the SDK's own scrubber: a
value stored under a key that names a secret is replaced wholesale, and bearer tokens, our API
keys (``c32_...``), JWTs, provider keys (``sk-...``), URL passwords and ``password=...`` pairs
are masked inside any string.
This module never decides what to report; it only decides what may leave. The SDK is
imported by :func:`init_sentry` only (its import costs ~0.15 s of CPU in every web, worker and
CLI process, most of which run without a DSN).
"""

from __future__ import annotations

import re
import sys
from typing import Any

FILTERED = "[Filtered]"

SENSITIVE_KEY_PARTS = (
    "password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie",
    "credential", "key",
)
"""A mapping key containing any of these (case-insensitive, ``-`` read as ``_``) is filtered."""

# Top-level event keys left as they are: package inventories, whose keys are distribution names
# ("keyring", "tokenizers") rather than data, and the SDK's annotations of what it trimmed.
_PASSTHROUGH_KEYS = frozenset({"modules", "_meta"})

_SECRET_WORDS = r"password|passwd|secret|token|api[_-]?key|authorization|cookie|credential"

_STRING_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values quoted in messages or reprs.
    (re.compile(r"(?i)\b(bearer)\s+[\w\-.~+/]+=*"), rf"\1 {FILTERED}"),
    (re.compile(r"(?i)\b(basic)\s+[A-Za-z0-9+/]{8,}={0,2}"), rf"\1 {FILTERED}"),
    # An invitation's token: the accept route's path segment (a request's URL).
    (re.compile(r"(/invitations/)[^/\s?#]+(/accept)"), rf"\1{FILTERED}\2"),
    # Our API keys, wherever they appear.
    (re.compile(r"\bc32_[\w\-]+"), FILTERED),
    # A JWT (our access and refresh tokens, an OIDC ID token) held bare, and the providers'
    # keys by their shape (OpenAI's sk-..., Anthropic's sk-ant-...).
    (re.compile(r"\beyJ[\w\-]+\.[\w\-]+\.[\w\-]*"), FILTERED),
    (re.compile(r"\bsk-[\w\-]{16,}"), FILTERED),
    # Credentials inside URLs: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{FILTERED}@"),
    # password=..., "token": "...", 'Authorization': '...' in messages, reprs and query strings.
    (re.compile(rf"""(?i)([\w\-]*(?:{_SECRET_WORDS})[\w\-]*["']?\s*[=:]\s*)"""
                r"""("[^"]*"|'[^']*'|[^\s&,;"'}\])]+)"""), rf"\1{FILTERED}"),
)


def is_sensitive_key(name: str) -> bool:
    """Whether a mapping key names a secret (``X-Api-Key``, ``db_password``, ``Cookie``...)."""
    normalized = name.lower().replace("-", "_")
    return any(part in normalized for part in SENSITIVE_KEY_PARTS)


def mask_string(value: str) -> str:
    """Mask bearer tokens, ``c32_`` API keys, URL passwords and ``secret=value`` pairs."""
    for pattern, replacement in _STRING_MASKS:
        value = pattern.sub(replacement, value)
    return value


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_string(value)
    if isinstance(value, dict):
        return {key: FILTERED if isinstance(key, str) and is_sensitive_key(key) else _scrub(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the event with every secret replaced by ``[Filtered]`` (a ``before_send`` hook).

    Walks the whole event: request headers, body and query string, ``extra``, contexts, tags,
    breadcrumbs, exception values and stack-frame variables.
    """
    return {key: value if key in _PASSTHROUGH_KEYS else _scrub(value)
            for key, value in event.items()}


def init_sentry(
    dsn: str | None,
    environment: str,
    release: str,
    traces_sample_rate: float = 0.0,
) -> bool:
    """Start reporting errors to Sentry; a no-op returning False when ``dsn`` is empty.

    Integrations are listed, not auto-enabled: auto-enabling imports every SDK installed
    (openai, anthropic...), which costs seconds per process, and the LLM integrations would
    record prompts, which are workspace data.
    """
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        traces_sample_rate=traces_sample_rate or None,
        # Personal data stays off (the SDK's default): no cookies, IPs or user names.
        max_request_body_size="small",
        include_local_variables=True,
        in_app_include=["codex32", "tenants"],
        auto_enabling_integrations=False,
        integrations=[
            FlaskIntegration(transaction_style="url"),
            SqlalchemyIntegration(),
            LoggingIntegration(),
        ],
        # The SDK types an event as a TypedDict; scrub_event takes and returns it as a dict.
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
    )
    return True


def tag_request(request_id: str | None, workspace_id: object,
                user_id: str | int | None = None) -> None:
    """Tag the current request's events with its request id, workspace and (id only) user."""
    sentry_sdk = sys.modules.get("sentry_sdk")
    if sentry_sdk is None:  # never imported, so never started: no events to tag
        return
    if request_id:
        sentry_sdk.set_tag("request_id", str(request_id))
    if workspace_id is not None:
        sentry_sdk.set_tag("workspace_id", str(workspace_id))
    if user_id is not None:
        sentry_sdk.set_user({"id": str(user_id)})
