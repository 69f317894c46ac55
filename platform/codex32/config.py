"""One typed settings object, read from the environment (12-factor). No other module reads env.

Development runs on safe embedded defaults; production refuses to start on unsafe ones.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from codex32.config_values import (
    ConfigError,
    OIDCProviderSetting,
    boolean,
    int_range,
    integer,
    is_allowlist_entry,
    items,
    number,
    oidc_providers,
    pairs,
    persisted_secret,
)

log = logging.getLogger(__name__)

# The sandbox's defaults (codex32.execution.sandbox.policy takes them from here).
SANDBOX_UID_RANGE = (200000, 200999)
SANDBOX_MAX_WORKDIR_MB = 1024
# What generated bots may pin in requirements.txt unless the operator says otherwise
# (CODEX32_BUILDER_ALLOWED_REQUIREMENTS): common pure-Python libraries and what they need.
BUILDER_ALLOWED_REQUIREMENTS = (
    "requests", "urllib3", "idna", "charset-normalizer", "certifi", "python-dateutil", "six",
    "pyyaml", "beautifulsoup4", "soupsieve", "feedparser", "sgmllib3k", "tabulate", "jinja2",
    "markupsafe")
@dataclass(frozen=True)
class Settings:
    """Every setting the platform reads; see the README's configuration table."""

    env: str = "development"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    migration_database_url: str | None = None
    allow_owner_runtime: bool = False
    pool_size: int = 20
    max_overflow: int = 40
    pool_pre_ping: bool = True
    pool_ping_idle_seconds: float = 0.5
    pool_recycle: int = 3600
    secret_key: str = ""
    jwt_secret_key: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    signup_mode: str = "open"
    platform_token: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    allow_private_urls: bool = True
    redis_url: str | None = None
    rate_limit_per_minute: int = 600
    login_attempts_per_15_minutes: int = 10
    signups_per_hour: int = 30
    smtp_url: str | None = None
    mail_from: str = "Codex-32 <no-reply@localhost>"
    public_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    max_code_bytes: int = 256 * 1024
    max_name_length: int = 255
    max_description_length: int = 10_000
    max_page_size: int = 100
    secrets_keys: list[str] = field(default_factory=list)
    load_plugins: list[str] | None = None
    strict_plugins: bool = False
    sentry_dsn: str | None = None
    traces_exporter: str = "none"  # OTEL_TRACES_EXPORTER: none (off), otlp or console
    release: str = ""
    log_level: str = "INFO"
    log_json: bool = True
    metrics_token: str | None = None
    web_concurrency: int = 1
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    proxy_hops: int = 0
    startup_checks: bool = True
    # The operator's default plugin per kind, over each kind's declared default
    # (codex32.plugins.interfaces); a workspace may choose others.
    default_plugins: dict[str, str] = field(default_factory=dict)
    plugin_timeout_seconds: float = 30.0
    plugin_calls_per_workspace: int = 2
    plugin_calls_per_plugin: int = 16
    # Streams a web process opens (and records) at once (codex32.api.openings; 0: unbounded).
    stream_openings_per_worker: int = 2
    # Chats (streamed or not) a web process serves at once; one more is refused (0: unbounded).
    chats_per_worker: int = 0
    stream_opening_wait_seconds: float = 2.0
    # Bot executions: platform maxima (a workspace may only lower them) and the worker.
    max_timeout_seconds: int = 300
    max_memory_mb: int = 1024
    max_retries: int = 5
    max_retry_backoff_seconds: int = 3600
    max_log_bytes: int = 256 * 1024
    allow_bot_network: bool = True
    worker_concurrency: int = 4
    worker_port: int = 0
    worker_shutdown_grace_seconds: float = 25.0
    worker_heartbeat_seconds: float = 10.0
    worker_stalled_seconds: float = 30.0
    worker_poll_seconds: float = 5.0
    scheduler_interval_seconds: float = 5.0
    notification_max_attempts: int = 5
    notification_retry_seconds: float = 1.0
    # What one run may ask of the platform through its channel (context.llm).
    bot_calls_per_run: int = 50
    bot_concurrent_calls: int = 4
    bot_call_timeout_seconds: float = 60.0
    bot_call_max_bytes: int = 1024 * 1024
    # The builder: the most repair rounds a workspace may set (builder.max_repair_rounds).
    builder_max_repair_rounds: int = 5
    # A builder event stream's longest life (then the client reconnects) and its heartbeat.
    builder_events_max_seconds: float = 30.0
    builder_events_heartbeat_seconds: float = 15.0
    # How many builder event streams may wait at once in a web process (0: no gate).
    builder_event_streams_per_worker: int = 16
    # The knowledge base: uploads, chunking, indexing jobs (docs/knowledge.md).
    knowledge_max_document_bytes: int = 10 * 1024 * 1024
    knowledge_chunk_tokens: int = 400
    knowledge_chunk_overlap_tokens: int = 60
    knowledge_embed_batch: int = 64
    knowledge_max_attempts: int = 5
    knowledge_retry_seconds: float = 2.0
    knowledge_stale_seconds: float = 600.0
    knowledge_min_vector_score: float = 0.0
    # The sandbox bots run in: platform configuration only, never a workspace's.
    sandbox_python: str | None = None
    sandbox_isolation: str | None = None
    sandbox_uid_range: tuple[int, int] = SANDBOX_UID_RANGE
    sandbox_max_workdir_mb: int = SANDBOX_MAX_WORKDIR_MB
    sandbox_bwrap: str | None = None
    # The builder's validation: requirement environments (codex32.execution.environments).
    builder_allowed_requirements: tuple[str, ...] = BUILDER_ALLOWED_REQUIREMENTS
    builder_index_url: str | None = None
    builder_find_links: tuple[str, ...] = ()
    builder_max_environments: int = 50
    builder_install_timeout_seconds: float = 300.0
    # GraphQL (/api/graphql, docs/graphql.md): introspection (off in production by default)
    # and the limits checked before an operation runs.
    graphql_introspection: bool = True
    graphql_max_depth: int = 10
    graphql_max_tokens: int = 2000
    graphql_max_cost: int = 5000
    graphql_max_answer_bytes: int = 16 * 1024 * 1024  # code, logs, inputs and results
    # OpenID Connect sign-in: the platform's providers and the provider key cache.
    oidc_providers: tuple[OIDCProviderSetting, ...] = ()
    oidc_jwks_ttl_seconds: float = 3600.0

    @property
    def production(self) -> bool:
        return self.env == "production"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (tests and the CLI use this)."""
        return replace(self, **overrides)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the environment; generate development secrets; refuse unsafe production."""
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CODEX32_ENV", "development").strip().lower()
        if mode not in ("development", "production", "test"):
            raise ConfigError("CODEX32_ENV must be development, production or test")
        data_dir = Path(env.get("CODEX32_DATA_DIR", ".data")).resolve()
        production = mode == "production"
        load = env.get("CODEX32_LOAD_PLUGINS")
        allowed = env.get("CODEX32_BUILDER_ALLOWED_REQUIREMENTS")
        settings = cls(
            env=mode,
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or None,
            migration_database_url=env.get("MIGRATION_DATABASE_URL") or None,
            allow_owner_runtime=boolean(env, "CODEX32_ALLOW_OWNER_RUNTIME", False),
            pool_size=integer(env, "DB_POOL_SIZE", 20),
            max_overflow=integer(env, "DB_MAX_OVERFLOW", 40),
            pool_pre_ping=boolean(env, "DB_POOL_PRE_PING", True),
            pool_ping_idle_seconds=number(env, "DB_POOL_PING_IDLE_SECONDS", 0.5),
            pool_recycle=integer(env, "DB_POOL_RECYCLE", 3600),
            secret_key=env.get("SECRET_KEY", ""),
            jwt_secret_key=env.get("JWT_SECRET_KEY", ""),
            access_token_minutes=integer(env, "ACCESS_TOKEN_MINUTES", 15),
            refresh_token_days=integer(env, "REFRESH_TOKEN_DAYS", 30),
            signup_mode=env.get("CODEX32_SIGNUP_MODE", "token" if production else "open"),
            platform_token=env.get("CODEX32_PLATFORM_TOKEN") or None,
            cors_origins=items(env.get("CORS_ORIGINS")),
            allow_private_urls=boolean(env, "CODEX32_ALLOW_PRIVATE_URLS", not production),
            redis_url=env.get("REDIS_URL") or None,
            rate_limit_per_minute=integer(env, "RATE_LIMIT_PER_MINUTE", 600),
            login_attempts_per_15_minutes=integer(env, "LOGIN_ATTEMPTS_PER_15_MINUTES", 10),
            signups_per_hour=integer(env, "SIGNUPS_PER_HOUR", 30),
            smtp_url=env.get("CODEX32_SMTP_URL") or None,
            mail_from=env.get("CODEX32_MAIL_FROM") or "Codex-32 <no-reply@localhost>",
            public_url=(env.get("CODEX32_PUBLIC_URL") or "").rstrip("/") or None,
            max_body_bytes=integer(env, "MAX_BODY_BYTES", 1024 * 1024),
            max_code_bytes=integer(env, "MAX_CODE_BYTES", 256 * 1024),
            max_name_length=integer(env, "MAX_NAME_LENGTH", 255),
            max_description_length=integer(env, "MAX_DESCRIPTION_LENGTH", 10_000),
            max_page_size=integer(env, "MAX_PAGE_SIZE", 100),
            secrets_keys=items(env.get("CODEX32_SECRETS_KEYS")),
            load_plugins=items(load) if load is not None else None,
            strict_plugins=boolean(env, "CODEX32_STRICT_PLUGINS", False),
            sentry_dsn=env.get("SENTRY_DSN") or None,
            # Off unless asked for (the OpenTelemetry default would be otlp); the SDK reads
            # the other OTEL_* variables (endpoint, headers, sampler, service name) itself.
            traces_exporter="none" if boolean(env, "OTEL_SDK_DISABLED", False) else (
                env.get("OTEL_TRACES_EXPORTER") or "none").strip().lower(),
            release=env.get("CODEX32_RELEASE", ""),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            log_json=boolean(env, "LOG_JSON", True),
            metrics_token=env.get("METRICS_TOKEN") or None,
            web_concurrency=integer(env, "WEB_CONCURRENCY", 1),
            argon2_time_cost=integer(env, "ARGON2_TIME_COST", 3),
            argon2_memory_kib=integer(env, "ARGON2_MEMORY_KIB", 65536),
            proxy_hops=integer(env, "PROXY_HOPS", 0),
            default_plugins=pairs(env, "CODEX32_DEFAULT_PLUGINS"),
            plugin_timeout_seconds=number(env, "PLUGIN_TIMEOUT_SECONDS", 30.0),
            plugin_calls_per_workspace=integer(env, "PLUGIN_CALLS_PER_WORKSPACE", 2),
            plugin_calls_per_plugin=integer(env, "PLUGIN_CALLS_PER_PLUGIN", 16),
            stream_openings_per_worker=integer(env, "STREAM_OPENINGS_PER_WORKER", 2),
            chats_per_worker=integer(env, "CHATS_PER_WORKER", 0),
            stream_opening_wait_seconds=number(env, "STREAM_OPENING_WAIT_SECONDS", 2.0),
            max_timeout_seconds=integer(env, "MAX_TIMEOUT_SECONDS", 300),
            max_memory_mb=integer(env, "MAX_MEMORY_MB", 1024),
            max_retries=integer(env, "MAX_RETRIES", 5),
            max_retry_backoff_seconds=integer(env, "MAX_RETRY_BACKOFF_SECONDS", 3600),
            max_log_bytes=integer(env, "MAX_LOG_BYTES", 256 * 1024),
            allow_bot_network=boolean(env, "CODEX32_ALLOW_BOT_NETWORK", not production),
            worker_concurrency=integer(env, "WORKER_CONCURRENCY", 4),
            worker_port=integer(env, "CODEX32_WORKER_PORT", 0),
            worker_shutdown_grace_seconds=number(env, "WORKER_SHUTDOWN_GRACE_SECONDS", 25.0),
            worker_heartbeat_seconds=number(env, "WORKER_HEARTBEAT_SECONDS", 10.0),
            worker_stalled_seconds=number(env, "WORKER_STALLED_SECONDS", 30.0),
            worker_poll_seconds=number(env, "WORKER_POLL_SECONDS", 5.0),
            scheduler_interval_seconds=number(env, "SCHEDULER_INTERVAL_SECONDS", 5.0),
            notification_max_attempts=integer(env, "NOTIFICATION_MAX_ATTEMPTS", 5),
            notification_retry_seconds=number(env, "NOTIFICATION_RETRY_SECONDS", 1.0),
            bot_calls_per_run=integer(env, "BOT_CALLS_PER_RUN", 50),
            bot_concurrent_calls=integer(env, "BOT_CONCURRENT_CALLS", 4),
            bot_call_timeout_seconds=number(env, "BOT_CALL_TIMEOUT_SECONDS", 60.0),
            bot_call_max_bytes=integer(env, "BOT_CALL_MAX_BYTES", 1024 * 1024),
            builder_max_repair_rounds=integer(env, "CODEX32_BUILDER_MAX_REPAIR_ROUNDS", 5),
            builder_events_max_seconds=number(env, "CODEX32_BUILDER_EVENTS_MAX_SECONDS", 30.0),
            builder_events_heartbeat_seconds=number(
                env, "CODEX32_BUILDER_EVENTS_HEARTBEAT_SECONDS", 15.0),
            builder_event_streams_per_worker=integer(
                env, "CODEX32_BUILDER_EVENT_STREAMS_PER_WORKER", 16),
            knowledge_max_document_bytes=integer(env, "KNOWLEDGE_MAX_DOCUMENT_BYTES",
                                              10 * 1024 * 1024),
            knowledge_chunk_tokens=integer(env, "KNOWLEDGE_CHUNK_TOKENS", 400),
            knowledge_chunk_overlap_tokens=integer(env, "KNOWLEDGE_CHUNK_OVERLAP_TOKENS", 60),
            knowledge_embed_batch=integer(env, "KNOWLEDGE_EMBED_BATCH", 64),
            knowledge_max_attempts=integer(env, "KNOWLEDGE_MAX_ATTEMPTS", 5),
            knowledge_retry_seconds=number(env, "KNOWLEDGE_RETRY_SECONDS", 2.0),
            knowledge_stale_seconds=number(env, "KNOWLEDGE_STALE_SECONDS", 600.0),
            knowledge_min_vector_score=number(env, "KNOWLEDGE_MIN_VECTOR_SCORE", 0.0),
            sandbox_python=env.get("CODEX32_SANDBOX_PYTHON") or None,
            sandbox_isolation=(env.get("CODEX32_SANDBOX_ISOLATION") or "").strip().lower() or None,
            sandbox_uid_range=int_range(env, "CODEX32_SANDBOX_UID_RANGE", SANDBOX_UID_RANGE),
            sandbox_max_workdir_mb=integer(env, "CODEX32_SANDBOX_MAX_WORKDIR_MB",
                                           SANDBOX_MAX_WORKDIR_MB),
            sandbox_bwrap=env.get("CODEX32_SANDBOX_BWRAP") or None,
            builder_allowed_requirements=tuple(items(allowed)) if allowed is not None
            else BUILDER_ALLOWED_REQUIREMENTS,
            builder_index_url=env.get("CODEX32_BUILDER_INDEX_URL") or None,
            builder_find_links=tuple(items(env.get("CODEX32_BUILDER_FIND_LINKS"))),
            builder_max_environments=integer(env, "CODEX32_BUILDER_MAX_ENVIRONMENTS", 50),
            builder_install_timeout_seconds=number(
                env, "CODEX32_BUILDER_INSTALL_TIMEOUT_SECONDS", 300.0),
            graphql_introspection=boolean(env, "GRAPHQL_INTROSPECTION", not production),
            graphql_max_depth=integer(env, "GRAPHQL_MAX_DEPTH", 10),
            graphql_max_tokens=integer(env, "GRAPHQL_MAX_TOKENS", 2000),
            graphql_max_cost=integer(env, "GRAPHQL_MAX_COST", 5000),
            graphql_max_answer_bytes=integer(env, "GRAPHQL_MAX_ANSWER_BYTES", 16 << 20),
            oidc_providers=oidc_providers(env.get("CODEX32_OIDC_PROVIDERS")),
            oidc_jwks_ttl_seconds=number(env, "CODEX32_OIDC_JWKS_TTL_SECONDS", 3600.0),
        )
        settings.validate()
        return settings.with_development_secrets()

    def validate(self) -> None:
        """Refuse settings no environment should run with, and unsafe ones in production."""
        if self.signup_mode not in ("open", "token"):
            raise ConfigError("CODEX32_SIGNUP_MODE must be open or token")
        if self.traces_exporter not in ("none", "otlp", "console"):
            raise ConfigError("OTEL_TRACES_EXPORTER must be none, otlp or console")
        if self.signup_mode == "token" and not self.platform_token and self.production:
            raise ConfigError("CODEX32_SIGNUP_MODE=token needs CODEX32_PLATFORM_TOKEN")
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise ConfigError("CODEX32_SMTP_URL must start with smtp:// or smtps://")
        if self.max_page_size < 1 or self.pool_size < 1:
            raise ConfigError("MAX_PAGE_SIZE and DB_POOL_SIZE must be positive")
        if min(self.graphql_max_depth, self.graphql_max_tokens, self.graphql_max_cost,
               self.graphql_max_answer_bytes) < 1:
            raise ConfigError("GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_TOKENS, GRAPHQL_MAX_COST and "
                              "GRAPHQL_MAX_ANSWER_BYTES must be at least 1")
        if self.pool_ping_idle_seconds < 0 or self.proxy_hops < 0:
            raise ConfigError("DB_POOL_PING_IDLE_SECONDS and PROXY_HOPS must not be negative")
        if self.plugin_calls_per_plugin < 1:
            raise ConfigError("PLUGIN_CALLS_PER_PLUGIN must be positive")
        if (self.stream_openings_per_worker < 0 or self.stream_opening_wait_seconds < 0
                or self.chats_per_worker < 0):
            raise ConfigError("STREAM_OPENINGS_PER_WORKER, STREAM_OPENING_WAIT_SECONDS and "
                              "CHATS_PER_WORKER must not be negative")
        if self.worker_concurrency < 1 or self.notification_max_attempts < 1:
            raise ConfigError("WORKER_CONCURRENCY and NOTIFICATION_MAX_ATTEMPTS must be positive")
        if self.notification_retry_seconds < 0:
            raise ConfigError("NOTIFICATION_RETRY_SECONDS must not be negative")
        if (self.bot_calls_per_run < 0 or self.bot_concurrent_calls < 1
                or self.bot_call_timeout_seconds <= 0 or self.bot_call_max_bytes < 1024):
            raise ConfigError("BOT_CALLS_PER_RUN must not be negative, BOT_CONCURRENT_CALLS and "
                              "BOT_CALL_TIMEOUT_SECONDS must be positive, BOT_CALL_MAX_BYTES "
                              "at least 1024")
        if not 0 <= self.builder_max_repair_rounds <= 20:
            raise ConfigError("CODEX32_BUILDER_MAX_REPAIR_ROUNDS must be between 0 and 20")
        if not (0 < self.builder_events_heartbeat_seconds <= 300
                and 0 < self.builder_events_max_seconds <= 3600):
            raise ConfigError("CODEX32_BUILDER_EVENTS_HEARTBEAT_SECONDS must be in (0, 300] and "
                              "CODEX32_BUILDER_EVENTS_MAX_SECONDS in (0, 3600]")
        if self.builder_event_streams_per_worker < 0:
            raise ConfigError("CODEX32_BUILDER_EVENT_STREAMS_PER_WORKER must not be negative")
        if (self.knowledge_max_document_bytes < 1 or self.knowledge_max_attempts < 1
                or not 16 <= self.knowledge_chunk_tokens <= 8192
                or not 0 <= self.knowledge_chunk_overlap_tokens < self.knowledge_chunk_tokens
                or not 1 <= self.knowledge_embed_batch <= 2048):
            raise ConfigError("KNOWLEDGE_MAX_DOCUMENT_BYTES and KNOWLEDGE_MAX_ATTEMPTS must be "
                              "positive, KNOWLEDGE_CHUNK_TOKENS from 16 to 8192 with "
                              "KNOWLEDGE_CHUNK_OVERLAP_TOKENS below it, KNOWLEDGE_EMBED_BATCH "
                              "from 1 to 2048")
        if self.sandbox_isolation not in (None, "none", "process", "user", "namespace"):
            raise ConfigError("CODEX32_SANDBOX_ISOLATION must be none, process, user or namespace")
        low, high = self.sandbox_uid_range
        if not 1000 <= low <= high < 2 ** 31 - 1:
            raise ConfigError("CODEX32_SANDBOX_UID_RANGE must be LOW-HIGH with 1000 <= LOW <= HIGH")
        if self.sandbox_max_workdir_mb < 1:
            raise ConfigError("CODEX32_SANDBOX_MAX_WORKDIR_MB must be positive")
        if self.builder_max_environments < 1 or self.builder_install_timeout_seconds <= 0:
            raise ConfigError("CODEX32_BUILDER_MAX_ENVIRONMENTS and "
                              "CODEX32_BUILDER_INSTALL_TIMEOUT_SECONDS must be positive")
        for entry in self.builder_allowed_requirements:
            if not is_allowlist_entry(entry):
                raise ConfigError(f"CODEX32_BUILDER_ALLOWED_REQUIREMENTS: {entry!r} is not a "
                                  "distribution name, optionally with a version specifier")
        if self.oidc_jwks_ttl_seconds < 0:
            raise ConfigError("CODEX32_OIDC_JWKS_TTL_SECONDS must not be negative")
        if self.production and self.oidc_providers and not self.public_url:
            # The callback address would otherwise come from the request's Host header.
            raise ConfigError("CODEX32_OIDC_PROVIDERS needs CODEX32_PUBLIC_URL in production")
        if self.worker_stalled_seconds <= self.worker_heartbeat_seconds:
            raise ConfigError("WORKER_STALLED_SECONDS must be longer than "
                              "WORKER_HEARTBEAT_SECONDS (a live worker would look stalled)")
        if not self.production:
            return
        missing = [name for name, value in (
            ("SECRET_KEY", self.secret_key), ("JWT_SECRET_KEY", self.jwt_secret_key),
            ("DATABASE_URL", self.database_url), ("CODEX32_SECRETS_KEYS", self.secrets_keys),
        ) if not value]
        if missing:
            raise ConfigError(f"production refuses to start without {', '.join(missing)}")
        weak = [name for name, value in (("SECRET_KEY", self.secret_key),
                                         ("JWT_SECRET_KEY", self.jwt_secret_key))
                if len(value) < 32]
        if weak:
            raise ConfigError(f"{', '.join(weak)} must be at least 32 characters in production")
        copied = [name for name, value in (  # deploy/k8s/secret.example.yaml's, public
            ("SECRET_KEY", self.secret_key), ("JWT_SECRET_KEY", self.jwt_secret_key),
            ("CODEX32_SECRETS_KEYS", ",".join(self.secrets_keys)),
            ("CODEX32_PLATFORM_TOKEN", self.platform_token), ("METRICS_TOKEN", self.metrics_token),
        ) if value and "change-me" in value.lower()]
        if copied:
            raise ConfigError(f"{', '.join(copied)} still hold the example's CHANGE-ME "
                              "placeholder: generate random values")

    def with_development_secrets(self) -> Settings:
        """Fill missing keys from the data folder, generating them once (never in production)."""
        if self.production:
            return self
        needed = {"secret_key": self.secret_key, "jwt_secret_key": self.jwt_secret_key}
        if not self.secrets_keys:
            needed["secrets_key"] = ""
        generated = {name: persisted_secret(self.data_dir, name)
                     for name, value in needed.items() if not value}
        if not generated:
            return self
        log.warning("using development keys generated under %s: set SECRET_KEY, JWT_SECRET_KEY "
                    "and CODEX32_SECRETS_KEYS before production", self.data_dir)
        keys = self.secrets_keys or [generated["secrets_key"]]
        return replace(self, secrets_keys=keys,
                       secret_key=generated.get("secret_key", self.secret_key),
                       jwt_secret_key=generated.get("jwt_secret_key", self.jwt_secret_key))

