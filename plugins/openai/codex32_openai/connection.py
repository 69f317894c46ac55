"""The connection to OpenAI shared by the provider and the embedder.

Holds the configuration both kinds accept, the lazily built SDK client of one plugin instance,
the health check (both kinds name a ``model`` the server must serve) and the translation of the
SDK's exceptions into :mod:`codex32.plugins.errors`. It never reads the process environment:
every value comes from the workspace's configuration and secret.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from codex32.plugins.api import (
    CONNECTION,
    CONTENT_POLICY,
    CONTEXT_LENGTH,
    ConfigInvalid,
    HealthResult,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    RefusedConnection,
    pinned_client,
    redacted,
    retry_after_seconds,
    with_defaults,
)

if TYPE_CHECKING:
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Sent when a self-hosted server needs no key: passing None would make the SDK fall back to
# OPENAI_API_KEY from the platform's environment, i.e. the operator's key for a tenant's call.
NO_KEY = "no-key"

# Every text a workspace saves is bounded: a model name as the core's ledger keeps one, a URL
# as the other plugins take one.
MAX_NAME = 200
MAX_URL = 2048
# The most models a price table names.
MAX_PRICED_MODELS = 500

CONNECTION_PROPERTIES: dict[str, Any] = {
    "base_url": {
        "type": "string", "format": "uri", "minLength": 1, "maxLength": MAX_URL,
        "description": "API root of an OpenAI-compatible server (vLLM, Ollama, llama.cpp), "
                       "e.g. http://localhost:11434/v1. Default: " + DEFAULT_BASE_URL,
    },
    "organization": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                     "description": "OpenAI organization id sent as OpenAI-Organization."},
    "project": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                "description": "OpenAI project id sent as OpenAI-Project."},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600, "default": 60,
                "description": "Seconds to wait for an answer, per attempt."},
    "max_retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 0,
                    "description": "Ignored, kept so saved configurations stay valid: the "
                                   "core's gateway retries and falls back, the SDK never "
                                   "retries (one retry policy, not two)."},
}



def _sdk() -> ModuleType:
    """The ``openai`` SDK, imported on first use (about 0.7 s of CPU that every process loading
    the plugins would otherwise pay at start-up, whether or not a workspace uses OpenAI)."""
    import openai

    return openai

class OpenAIConnection:
    """Mixin for a plugin class: one SDK client per instance, built on first use, closed once.

    List it before the kind's base class (``class P(OpenAIConnection, LLMProvider)``): ``config``,
    ``config_schema`` and ``secret()`` come from :class:`codex32.plugins.interfaces.Plugin`.
    """

    config: dict[str, Any]
    config_schema: ClassVar[dict[str, Any]]
    secret: Callable[[str], str | None]

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)  # type: ignore[call-arg]
        self.config = with_defaults(self.config_schema, self.config)
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client, built on first use from this instance's configuration and secret."""
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> openai.OpenAI:
        base_url = self.config.get("base_url") or DEFAULT_BASE_URL
        api_key = self.secret("api_key")
        if not api_key:
            if base_url.rstrip("/") == DEFAULT_BASE_URL:
                raise ConfigInvalid("the api_key secret is required for api.openai.com",
                                    {"api_key": ["required"]})
            api_key = NO_KEY
        client = _sdk().OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=float(self.config["timeout"]),
            max_retries=0,  # the gateway's router retries; two policies would multiply
            # Every connection is checked where it is made; redirects are not followed.
            http_client=pinned_client(),
        )
        # Set after construction: None given to the constructor makes the SDK read
        # OPENAI_ORG_ID / OPENAI_PROJECT_ID, and the operator's org would ride on tenants' calls.
        client.organization = self.config.get("organization")
        client.project = self.config.get("project")
        return client

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    @contextmanager
    def translated_errors(self, *, quote: bool = True) -> Iterator[None]:
        """Turn SDK exceptions raised inside the block into codex32 plugin errors.

        ``quote=False`` leaves the server's own words out (status and error class only).
        """
        try:
            yield
        except _sdk().OpenAIError as exc:
            # ``from None``: the SDK's exception text may echo part of the key; ours never does.
            raise translate(exc, self.secret("api_key"), quote=quote) from None

    def health_check(self) -> HealthResult:
        """List the server's models (free) and check the configured ``model`` is served.

        The detail never quotes what the server answered: a test is no way to read a server.
        """
        model = self.config["model"]
        started = time.perf_counter()
        try:
            with self.translated_errors(quote=False):
                page = self.client.models.list(timeout=min(float(self.config["timeout"]), 10.0))
                models = [m.id for m in page]
        except (ProviderError, ConfigInvalid) as exc:
            return HealthResult(ok=False, detail=str(exc), latency_ms=_ms_since(started))
        latency = _ms_since(started)
        if models and model not in models:
            return HealthResult(ok=False, latency_ms=latency, detail=(
                f"model {model!r} is not among the {len(models)} models served"))
        return HealthResult(ok=True, latency_ms=latency,
                            detail=f"{len(models)} models served, {model!r} available")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def translate(exc: openai.OpenAIError, secret: str | None, *, quote: bool = True
              ) -> ProviderError:
    """The codex32 error for an SDK exception; its message never contains ``secret``.

    ``quote=False``: status and error class only, none of the server's text.
    """
    if isinstance(exc, _sdk().APITimeoutError):
        return ProviderTimeout("OpenAI did not answer in time")
    if isinstance(exc, _sdk().APIConnectionError):
        if isinstance(exc.__cause__, RefusedConnection):
            return ProviderError(str(exc.__cause__))
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
        return ProviderError(f"could not reach the OpenAI server ({cause})", kind=CONNECTION)
    if isinstance(exc, _sdk().APIStatusError):
        status, code = exc.status_code, f" {exc.code}" if exc.code and quote else ""
        if isinstance(exc, _sdk().AuthenticationError | _sdk().PermissionDeniedError):
            # The API's text quotes the (masked) key, so none of it is passed on.
            return ProviderAuthError(f"OpenAI rejected the credentials ({status}{code})",
                                     status=status)
        detail = _detail(exc, secret) if quote else type(exc).__name__
        if isinstance(exc, _sdk().RateLimitError):
            return ProviderRateLimited(f"OpenAI rate limit ({status}{code}): {detail}",
                                       retry_after=retry_after_seconds(exc.response.headers),
                                       status=status)
        return ProviderError(f"OpenAI answered {status}{code}: {detail}", status=status,
                             kind=ERROR_CODES.get(exc.code or ""),
                             retry_after=retry_after_seconds(exc.response.headers))
    if not quote:
        return ProviderError(f"OpenAI failed ({type(exc).__name__})")
    if isinstance(exc, _sdk().APIError):
        return ProviderError(f"OpenAI failed: {_detail(exc, secret)}")
    return ProviderError(f"OpenAI client error ({type(exc).__name__}): "
                         f"{redacted(str(exc), secret)}")


# The API's error codes that say more than the status does.
ERROR_CODES = {"context_length_exceeded": CONTEXT_LENGTH, "string_above_max_length":
               CONTEXT_LENGTH, "content_policy_violation": CONTENT_POLICY,
               "content_filter": CONTENT_POLICY}


def _detail(exc: openai.APIError, secret: str | None) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return redacted(message if isinstance(message, str) and message else exc.message, secret)
