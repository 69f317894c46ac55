"""Settings.from_env: safe development defaults, refusal of unsafe production, strict parsing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from codex32.config import ConfigError, Settings

STRONG = "x" * 40


def production_env(data_dir: Path, **changes: str | None) -> dict[str, str]:
    """A complete production environment; a change of None removes that variable."""
    env: dict[str, str | None] = {
        "CODEX32_ENV": "production", "CODEX32_DATA_DIR": str(data_dir),
        "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "j" * 40,
        "DATABASE_URL": "postgresql://codex32_runtime@db.internal/codex32",
        "CODEX32_SECRETS_KEYS": "k" * 44, "CODEX32_PLATFORM_TOKEN": "p" * 32,
        **changes,
    }
    return {name: value for name, value in env.items() if value is not None}


def development_env(data_dir: Path, **changes: str) -> dict[str, str]:
    return {"CODEX32_ENV": "development", "CODEX32_DATA_DIR": str(data_dir), **changes}


# production


def test_a_complete_production_environment_is_accepted(tmp_path):
    settings = Settings.from_env(production_env(tmp_path))

    assert settings.production
    assert settings.secret_key == "s" * 40
    assert settings.secrets_keys == ["k" * 44]
    assert list(tmp_path.iterdir()) == []  # nothing generated on disk in production


def test_production_without_any_key_or_database_names_every_missing_one(tmp_path):
    env = production_env(tmp_path, SECRET_KEY=None, JWT_SECRET_KEY=None, DATABASE_URL=None,
                         CODEX32_SECRETS_KEYS=None)

    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)

    message = str(refused.value)
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL", "CODEX32_SECRETS_KEYS"):
        assert name in message


@pytest.mark.parametrize("missing", ["SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL",
                                     "CODEX32_SECRETS_KEYS"])
def test_production_refuses_when_one_setting_is_missing_and_names_only_it(tmp_path, missing):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(production_env(tmp_path, **{missing: None}))

    message = str(refused.value)
    assert message == f"production refuses to start without {missing}"


@pytest.mark.parametrize("empty", ["SECRET_KEY", "DATABASE_URL", "CODEX32_SECRETS_KEYS"])
def test_production_treats_an_empty_value_as_missing(tmp_path, empty):
    with pytest.raises(ConfigError, match=empty):
        Settings.from_env(production_env(tmp_path, **{empty: ""}))


def test_production_treats_a_list_of_only_commas_as_no_secrets_keys(tmp_path):
    with pytest.raises(ConfigError, match="CODEX32_SECRETS_KEYS"):
        Settings.from_env(production_env(tmp_path, CODEX32_SECRETS_KEYS=" , ,"))


@pytest.mark.parametrize("short", ["SECRET_KEY", "JWT_SECRET_KEY"])
def test_production_refuses_keys_shorter_than_32_characters(tmp_path, short):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(production_env(tmp_path, **{short: "k" * 31}))

    assert str(refused.value) == f"{short} must be at least 32 characters in production"


@pytest.mark.parametrize("variable", ["SECRET_KEY", "JWT_SECRET_KEY", "CODEX32_SECRETS_KEYS",
                                      "CODEX32_PLATFORM_TOKEN", "METRICS_TOKEN"])
def test_production_refuses_the_example_secrets_placeholders(tmp_path, variable):
    # deploy/k8s/secret.example.yaml's values are public (and long enough): a cluster that
    # applied the example would sign tokens anyone can forge.
    env = production_env(tmp_path, **{variable: "CHANGE-ME-at-least-32-random-characters"})
    with pytest.raises(ConfigError, match=f"{variable}.*placeholder"):
        Settings.from_env(env)


def test_production_accepts_keys_of_exactly_32_characters(tmp_path):
    settings = Settings.from_env(production_env(tmp_path, SECRET_KEY="a" * 32,
                                                JWT_SECRET_KEY="b" * 32))

    assert (settings.secret_key, settings.jwt_secret_key) == ("a" * 32, "b" * 32)


def test_short_keys_are_accepted_outside_production(tmp_path):
    settings = Settings.from_env(development_env(tmp_path, SECRET_KEY="short",
                                                 JWT_SECRET_KEY="short too"))

    assert (settings.secret_key, settings.jwt_secret_key) == ("short", "short too")


def test_unknown_environment_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="CODEX32_ENV"):
        Settings.from_env({"CODEX32_ENV": "staging", "CODEX32_DATA_DIR": str(tmp_path)})


def test_environment_name_is_case_and_space_insensitive(tmp_path):
    settings = Settings.from_env(production_env(tmp_path, CODEX32_ENV=" Production "))

    assert settings.production


# development keys


def test_development_generates_keys_and_persists_them_with_mode_0600(tmp_path):
    data_dir = tmp_path / "data"

    first = Settings.from_env(development_env(data_dir))
    second = Settings.from_env(development_env(data_dir))

    generated = (first.secret_key, first.jwt_secret_key, first.secrets_keys[0])
    assert all(len(key) >= 32 for key in generated)
    assert len(set(generated)) == 3
    assert (second.secret_key, second.jwt_secret_key, second.secrets_keys) == (
        first.secret_key, first.jwt_secret_key, first.secrets_keys)
    files = {path.name: path for path in data_dir.iterdir()}
    assert set(files) == {"secret_key.txt", "jwt_secret_key.txt", "secrets_key.txt"}
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files["secret_key.txt"].read_text() == first.secret_key


def test_development_keeps_given_keys_and_generates_only_the_missing_ones(tmp_path):
    settings = Settings.from_env(development_env(tmp_path, SECRET_KEY=STRONG,
                                                 CODEX32_SECRETS_KEYS="new-key,old-key"))

    assert settings.secret_key == STRONG
    assert settings.secrets_keys == ["new-key", "old-key"]
    assert settings.jwt_secret_key
    assert [path.name for path in tmp_path.iterdir()] == ["jwt_secret_key.txt"]


def test_development_with_every_key_given_writes_nothing(tmp_path):
    Settings.from_env(development_env(tmp_path, SECRET_KEY=STRONG, JWT_SECRET_KEY=STRONG,
                                      CODEX32_SECRETS_KEYS=STRONG))

    assert list(tmp_path.iterdir()) == []


def test_test_environment_also_generates_development_keys(tmp_path):
    settings = Settings.from_env({"CODEX32_ENV": "test", "CODEX32_DATA_DIR": str(tmp_path)})

    assert settings.secret_key and settings.jwt_secret_key and settings.secrets_keys
    assert not settings.production


# parsing


@pytest.mark.parametrize("variable", ["CODEX32_ALLOW_OWNER_RUNTIME", "DB_POOL_PRE_PING",
                                      "CODEX32_ALLOW_PRIVATE_URLS", "CODEX32_STRICT_PLUGINS",
                                      "LOG_JSON"])
def test_a_value_that_is_not_a_boolean_is_refused(tmp_path, variable):
    with pytest.raises(ConfigError, match="expected a boolean, got 'maybe'"):
        Settings.from_env(development_env(tmp_path, **{variable: "maybe"}))


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("true", True), ("YES", True), (" on ", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_boolean_spellings(tmp_path, value, expected):
    settings = Settings.from_env(development_env(tmp_path, CODEX32_STRICT_PLUGINS=value))

    assert settings.strict_plugins is expected


@pytest.mark.parametrize("variable", ["DB_POOL_SIZE", "RATE_LIMIT_PER_MINUTE",
                                      "LOGIN_ATTEMPTS_PER_15_MINUTES", "MAX_BODY_BYTES",
                                      "ARGON2_TIME_COST", "WEB_CONCURRENCY", "PROXY_HOPS"])
@pytest.mark.parametrize("value", ["ten", "1.5", "0x10"])
def test_a_value_that_is_not_an_integer_is_refused(tmp_path, variable, value):
    with pytest.raises(ConfigError, match=f"expected an integer, got '{value}'"):
        Settings.from_env(development_env(tmp_path, **{variable: value}))


@pytest.mark.parametrize(("variable", "value"), [
    ("WORKER_CONCURRENCY", "abc"), ("DB_POOL_PING_IDLE_SECONDS", "soon"),
    ("LOG_JSON", "maybe"), ("CODEX32_SANDBOX_UID_RANGE", "lots"),
    ("CODEX32_DEFAULT_PLUGINS", "llm"),
])
def test_a_value_that_does_not_read_names_its_variable(tmp_path, variable, value):
    # An operator with eighty settings must learn which one is wrong, not only its value.
    with pytest.raises(ConfigError, match=f"^{variable}: expected .*, got '{value}'$"):
        Settings.from_env(development_env(tmp_path, **{variable: value}))


def test_a_negative_proxy_hop_count_is_refused(tmp_path):
    # ProxyFix reads X-Forwarded-For from the left for a negative count: the client's own
    # value (rate limits keyed on a forged address), or an IndexError (500) when it is short.
    with pytest.raises(ConfigError, match="PROXY_HOPS must not be negative"):
        Settings.from_env(development_env(tmp_path, PROXY_HOPS="-1"))


def test_the_notification_backoff_is_a_setting_and_never_negative(tmp_path):
    assert Settings.from_env(development_env(tmp_path)).notification_retry_seconds == 1.0
    settings = Settings.from_env(development_env(tmp_path, NOTIFICATION_RETRY_SECONDS="0.25"))
    assert settings.notification_retry_seconds == 0.25
    with pytest.raises(ConfigError, match="NOTIFICATION_RETRY_SECONDS must not be negative"):
        Settings.from_env(development_env(tmp_path, NOTIFICATION_RETRY_SECONDS="-1"))


def test_empty_values_fall_back_to_the_defaults(tmp_path):
    settings = Settings.from_env(development_env(tmp_path, RATE_LIMIT_PER_MINUTE="",
                                                 LOG_JSON="", DB_POOL_SIZE=""))

    assert (settings.rate_limit_per_minute, settings.log_json, settings.pool_size) == (
        600, True, 20)


@pytest.mark.parametrize("variable", ["DB_POOL_SIZE", "MAX_PAGE_SIZE"])
def test_non_positive_pool_and_page_sizes_are_refused(tmp_path, variable):
    with pytest.raises(ConfigError, match="must be positive"):
        Settings.from_env(development_env(tmp_path, **{variable: "0"}))


def test_cors_origins_are_a_comma_separated_list(tmp_path):
    settings = Settings.from_env(development_env(
        tmp_path, CORS_ORIGINS="https://app.example.com, https://admin.example.com,"))

    assert settings.cors_origins == ["https://app.example.com", "https://admin.example.com"]


# sign-up mode


def test_signup_is_open_by_default_in_development(tmp_path):
    assert Settings.from_env(development_env(tmp_path)).signup_mode == "open"


def test_signup_needs_the_platform_token_by_default_in_production(tmp_path):
    assert Settings.from_env(production_env(tmp_path)).signup_mode == "token"


def test_production_token_signup_without_a_platform_token_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="CODEX32_PLATFORM_TOKEN"):
        Settings.from_env(production_env(tmp_path, CODEX32_PLATFORM_TOKEN=None))


def test_production_may_open_signup_explicitly(tmp_path):
    settings = Settings.from_env(production_env(tmp_path, CODEX32_SIGNUP_MODE="open",
                                                CODEX32_PLATFORM_TOKEN=None))

    assert settings.signup_mode == "open"


def test_unknown_signup_mode_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="CODEX32_SIGNUP_MODE"):
        Settings.from_env(development_env(tmp_path, CODEX32_SIGNUP_MODE="invite"))


# private URLs


def test_private_urls_are_allowed_by_default_in_development(tmp_path):
    assert Settings.from_env(development_env(tmp_path)).allow_private_urls is True


def test_private_urls_are_refused_by_default_in_production(tmp_path):
    assert Settings.from_env(production_env(tmp_path)).allow_private_urls is False


@pytest.mark.parametrize(("make_env", "value", "expected"), [
    (production_env, "1", True), (development_env, "0", False)])
def test_private_urls_setting_overrides_the_default(tmp_path, make_env, value, expected):
    settings = Settings.from_env(make_env(tmp_path, CODEX32_ALLOW_PRIVATE_URLS=value))

    assert settings.allow_private_urls is expected


# plugins


def test_unset_load_plugins_means_no_allow_list(tmp_path):
    """None: every installed entry point loads."""
    assert Settings.from_env(development_env(tmp_path)).load_plugins is None


def test_empty_load_plugins_is_an_empty_allow_list(tmp_path):
    """An empty list, not None: no entry point is allowed."""
    settings = Settings.from_env(development_env(tmp_path, CODEX32_LOAD_PLUGINS=""))

    assert settings.load_plugins == []


def test_load_plugins_is_a_trimmed_comma_separated_list(tmp_path):
    settings = Settings.from_env(development_env(
        tmp_path, CODEX32_LOAD_PLUGINS=" slack-notifier, ,openai ,,anthropic "))

    assert settings.load_plugins == ["slack-notifier", "openai", "anthropic"]


def test_default_plugins_name_only_the_operators_choices(tmp_path):
    """Kinds the operator does not name keep the default their declaration gives."""
    assert Settings.from_env(development_env(tmp_path)).default_plugins == {}
    settings = Settings.from_env(development_env(
        tmp_path, CODEX32_DEFAULT_PLUGINS="llm=openai, notifier=webhook"))
    assert settings.default_plugins == {"llm": "openai", "notifier": "webhook"}


@pytest.mark.parametrize(("value", "expected"), [(None, 16), ("4", 4)])
def test_calls_per_plugin_is_a_setting(tmp_path, value, expected):
    changes = {"PLUGIN_CALLS_PER_PLUGIN": value} if value else {}
    assert Settings.from_env(development_env(tmp_path, **changes)).plugin_calls_per_plugin == (
        expected)


def test_a_plugin_needs_at_least_one_call_in_flight(tmp_path):
    with pytest.raises(ConfigError, match="PLUGIN_CALLS_PER_PLUGIN"):
        Settings.from_env(development_env(tmp_path, PLUGIN_CALLS_PER_PLUGIN="0"))
