"""Conformance suites for plugin authors: one base class per kind, subclassed in a test module.

    from codex32.testing import ErrorCase, NotifierConformance

    class TestAcmeNotifier(NotifierConformance):
        plugin_class = AcmeNotifier
        entry_point = "acme"                               # as in your pyproject.toml
        plugin_secrets = {"token": "acme-LEAKCHECK-4f2a9c"}  # distinctive, to spot leaks

        @pytest.fixture(autouse=True)
        def backend(self, receiver):                       # your fixture: a local stand-in
            self.receiver = receiver
            self.plugin_config = {"url": receiver.url}

        def delivered(self, notification):
            return any(notification.id in r.body.decode() for r in self.receiver.requests)

        def error_cases(self):
            return [ErrorCase("bad token", ProviderAuthError,
                              arrange=lambda: self.receiver.answer(401))]

Every check is a test method named for the behaviour it demands; its docstring says what it
checks and how to give it what it needs. The suites hold no servers and open no connections:
the author's fixtures provide the backend, the suites only build instances and call them.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import inspect
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator

from codex32.plugins import kinds
from codex32.plugins.errors import (
    ConfigInvalid,
    PluginError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.plugins.hookspecs import PROJECT
from codex32.plugins.interfaces import (
    ISOLATION_LEVELS,
    BotServices,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ExecutionLimits,
    ExecutionOutcome,
    ExecutionRequest,
    GeneratedBot,
    GenerationRequest,
    Message,
    Notification,
    Plugin,
    Template,
    Usage,
    VectorItem,
    with_defaults,
)
from codex32.plugins.manager import PluginManager
from codex32.testing.outbound import OutboundConformance

__all__ = [
    "WORKSPACE_A",
    "WORKSPACE_B",
    "CodeGeneratorConformance",
    "EmbedderConformance",
    "ErrorCase",
    "ExecutorConformance",
    "LLMProviderConformance",
    "NotifierConformance",
    "PluginConformance",
    "VectorStoreConformance",
    "registered_classes",
    "with_defaults",
    "wrong_type_configs",
]

WORKSPACE_A = "00000000-0000-4000-8000-00000000000a"
WORKSPACE_B = "00000000-0000-4000-8000-00000000000b"

# Ids appear in URLs (/providers/<kind>/<id>) and settings; prefix yours to avoid collisions.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# Values tried, in order, until the schema refuses one for a property.
WRONG_VALUES: tuple[Any, ...] = ("a value of the wrong type", 12345, True, [], {})
UNKNOWN_SETTING = "__not_a_setting__"
DEFAULT_TIMEOUT_BOUND = 5.0
MIN_MARKER_LENGTH = 8
# From the most specific down: the first match is how the API answers (see codex32.errors).
ERROR_TYPES: tuple[type[PluginError], ...] = (ConfigInvalid, ProviderAuthError,
                                              ProviderRateLimited, ProviderTimeout,
                                              ProviderError, PluginError)


@dataclass(frozen=True)
class ErrorCase:
    """A failure to provoke and the codex32 error it must come out as.

    ``arrange`` scripts the backend first (a fake server's next answer is a 429); ``config``
    updates the working configuration and ``secrets`` replaces the working secrets (None keeps
    them); ``call`` is what to run on the instance (None: the suite's :meth:`exercise`).
    ``retry_after`` is the value a :class:`ProviderRateLimited` must carry; ``within`` bounds
    the seconds the call may take.
    """

    name: str
    expected: type[PluginError]
    arrange: Callable[[], object] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] | None = None
    call: Callable[[Any], object] | None = None
    retry_after: float | None = None
    within: float | None = None


def wrong_type_configs(schema: dict[str, Any],
                       base: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Invalid settings derived from ``schema``: each property set to a value it refuses, and
    an unknown property when ``additionalProperties`` is false.

    ``base`` is a valid object the values are tried in (required properties filled in).
    """
    base = base or {}
    validator = Draft202012Validator(schema)
    examples = []
    for name in schema.get("properties") or {}:
        for value in WRONG_VALUES:
            errors = validator.iter_errors({**base, name: value})
            if any(list(error.absolute_path)[:1] == [name] for error in errors):
                examples.append({name: value})
                break
    if schema.get("additionalProperties") is False:
        examples.append({UNKNOWN_SETTING: 1})
    return examples


def registered_classes(module: Any, name: str | None = None) -> dict[str, list[type[Plugin]]]:
    """What a plugin module registers, per kind, when the core's manager loads it (strict)."""
    manager = PluginManager(strict=True)
    manager.register_module(module, name=name or str(getattr(module, "__name__", "plugin")))
    manager.collect()
    return {kind: [registration.cls for registration in registry.values()]
            for kind, registry in manager.registry.items() if registry}


def _kind(name: str) -> kinds.Kind[Any]:
    declared = kinds.get(name)
    assert declared is not None, f"no kind {name!r} is declared"
    return declared


def _api_type(error: type[PluginError]) -> type[PluginError]:
    """The codex32 error type that decides how the API answers ``error``."""
    return next(kind for kind in ERROR_TYPES if issubclass(error, kind))


def _exception_text(error: BaseException) -> str:
    """What a traceback or an error tracker shows of ``error`` and the exceptions it chains."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 20:
        parts += traceback.format_exception_only(type(current), current)
        parts.append(repr(current.args))
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    return "".join(parts)


def _mutables(value: Any, path: str, found: dict[int, str], depth: int = 0) -> None:
    """Record the mutable containers reachable from ``value`` through containers."""
    if depth > 4:
        return
    if isinstance(value, dict | list | set | bytearray):
        found.setdefault(id(value), path)
    if isinstance(value, dict):
        for key, item in value.items():
            _mutables(item, f"{path}[{key!r}]", found, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _mutables(item, f"{path}[{index}]", found, depth + 1)


def _signature_problem(expected: Callable[..., Any], actual: Callable[..., Any]) -> str | None:
    """Why ``actual`` cannot be called as ``expected`` is documented, or None."""
    want = list(inspect.signature(expected).parameters.values())
    have = list(inspect.signature(actual).parameters.values())
    for index, param in enumerate(want):
        if index >= len(have):
            return f"lacks the parameter {param.name!r}"
        if have[index].kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None  # *args/**kwargs take the rest
        if (have[index].name, have[index].kind) != (param.name, param.kind):
            return f"has {have[index]} where the contract has {param}"
        if param.default is not param.empty and have[index].default is param.empty:
            return f"makes {param.name!r} required; the contract gives it a default"
    for param in have[len(want):]:
        if param.default is param.empty and param.kind not in (param.VAR_POSITIONAL,
                                                               param.VAR_KEYWORD):
            return f"adds the required parameter {param.name!r}; extras need defaults"
    return None


def _poll(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class PluginConformance(OutboundConformance):
    """Checks every plugin class must pass, whatever its kind.

    Set ``plugin_class``; ``plugin_config`` and ``plugin_secrets`` (a working configuration and
    distinctive secret values, assigned in an autouse fixture when they depend on one, e.g. a
    local server's URL); ``entry_point`` (the name under the ``codex32`` entry-point group) or
    ``plugin_module``. Override :meth:`make_plugin` only when building needs more than
    ``plugin_class(config, secrets)``; :meth:`error_cases`, :meth:`timeout_case` and
    :meth:`invalid_configs` to provoke failures.
    """

    kind: ClassVar[str] = ""
    methods: ClassVar[tuple[str, ...]] = ()  # the kind's methods a plugin must implement
    plugin_class: ClassVar[type[Plugin]]
    plugin_config: dict[str, Any] = {}
    plugin_secrets: dict[str, str] = {}
    entry_point: ClassVar[str | None] = None
    plugin_module: ClassVar[Any] = None
    sdk_loggers: ClassVar[tuple[str, ...]] = ()  # loggers to capture at DEBUG besides root

    # -- what an author provides --------------------------------------------------------------

    def make_plugin(self, config: dict[str, Any] | None = None,
                    secrets: dict[str, str] | None = None) -> Plugin:
        """An instance as the core builds one: ``plugin_config`` updated with ``config``, a
        fresh copy with the schema's defaults filled in; ``secrets`` (None: ``plugin_secrets``)."""
        merged = with_defaults(self.plugin_class.config_schema,
                               {**self.plugin_config, **(config or {})})
        return self.plugin_class(merged, dict(self.plugin_secrets if secrets is None else secrets))

    def invalid_configs(self) -> list[dict[str, Any]]:
        """Settings the plugin must refuse; default: :func:`wrong_type_configs` of the schema."""
        return wrong_type_configs(self.plugin_class.config_schema, self.plugin_config)

    def error_cases(self) -> list[ErrorCase]:
        """Failures to provoke: bad credentials, rate limits, server errors. Default: none.

        When there are none, the first line of your override's docstring is the skip reason.
        """
        return []

    def timeout_case(self) -> ErrorCase | None:
        """A slow backend and a small configured timeout (expects ProviderTimeout), or None.

        When there is none, the first line of your override's docstring is the skip reason.
        """
        return None

    def secret_markers(self) -> list[str]:
        """Text that must never be shown; default: the values of ``plugin_secrets``."""
        return list(self.plugin_secrets.values())

    def exercise(self, plugin: Any) -> object:
        """The kind's standard call, used by checks and error cases without their own call."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    def build(self, config: dict[str, Any] | None = None,
              secrets: dict[str, str] | None = None) -> Any:
        """:meth:`make_plugin`, closed after the test."""
        plugin = self.make_plugin(config, secrets)
        self.__dict__.setdefault("_built", []).append(plugin)
        return plugin

    @pytest.fixture(autouse=True)
    def _close_built_plugins(self) -> Iterator[None]:
        yield
        for plugin in self.__dict__.pop("_built", []):
            plugin.close()

    def _why_not(self, method: str, missing: str) -> str:
        """A skip reason: the first docstring line of the author's override, else ``missing``."""
        override = getattr(type(self), method)
        if override is not getattr(PluginConformance, method) and override.__doc__:
            return f"{type(self).__name__}.{method}(): {override.__doc__.strip().splitlines()[0]}"
        return f"{type(self).__name__}.{method}() {missing}"

    def provoke(self, case: ErrorCase) -> PluginError:
        """Run ``case`` and return the codex32 error it raised; fail on anything else."""
        if case.arrange is not None:
            case.arrange()
        plugin = self.build(case.config, case.secrets)
        started = time.monotonic()
        try:
            (case.call or self.exercise)(plugin)
        except PluginError as exc:
            error = exc
        except Exception as exc:
            pytest.fail(f"{case.name}: raised {type(exc).__module__}.{type(exc).__qualname__}; "
                        f"translate it into a codex32.plugins.errors type "
                        f"({case.expected.__name__} here)")
        else:
            pytest.fail(f"{case.name}: nothing was raised; expected {case.expected.__name__}")
        elapsed = time.monotonic() - started
        assert _api_type(type(error)) is _api_type(case.expected), (
            f"{case.name}: raised {type(error).__name__} ({error}); expected "
            f"{case.expected.__name__}")
        if case.retry_after is not None:
            assert isinstance(error, ProviderRateLimited)
            assert error.retry_after == pytest.approx(case.retry_after, abs=0.5), (
                f"{case.name}: retry_after is {error.retry_after}, the backend asked for "
                f"{case.retry_after}")
        if case.within is not None:
            assert elapsed <= case.within, (
                f"{case.name}: took {elapsed:.2f}s, more than the {case.within:g}s allowed")
        return error

    # -- the contract ------------------------------------------------------------------------

    def test_declares_id_kind_and_titles(self):
        """``id`` is a short lowercase slug (letters, digits, ``. _ -``; it appears in URLs and
        settings); ``kind`` is this suite's kind and the class subclasses that kind's base;
        ``title`` and ``description`` are strings."""
        cls = self.plugin_class
        assert isinstance(cls.id, str) and ID_PATTERN.fullmatch(cls.id), (
            f"id {cls.id!r} is not a lowercase slug like 'acme-search'")
        assert cls.kind == self.kind, f"kind is {cls.kind!r}, this suite checks {self.kind!r}"
        assert issubclass(cls, _kind(self.kind).base)
        assert isinstance(cls.title, str) and isinstance(cls.description, str)

    def test_config_schema_is_a_json_schema_object(self):
        """``config_schema`` is a valid JSON Schema (Draft 2020-12) of ``type: object``, and
        every property's ``default`` is valid for that property (the core fills them in)."""
        schema = self.plugin_class.config_schema
        assert isinstance(schema, dict)
        Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object", "config_schema must describe an object"
        validator = Draft202012Validator(schema)
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict) and "default" in prop:
                errors = [e.message for e in validator.iter_errors({name: prop["default"]})
                          if list(e.absolute_path)[:1] == [name]]
                assert not errors, f"the default of {name!r} is invalid: {errors}"

    def test_declares_secrets_and_capabilities(self):
        """``secrets`` is a tuple of distinct names, ``capabilities`` a frozenset of strings,
        and ``plugin_secrets`` names only declared secrets (the core passes no others)."""
        cls = self.plugin_class
        assert isinstance(cls.secrets, tuple), "secrets must be a tuple of names"
        assert all(isinstance(name, str) and name for name in cls.secrets)
        assert len(set(cls.secrets)) == len(cls.secrets), "secret names repeat"
        assert isinstance(cls.capabilities, frozenset), "capabilities must be a frozenset"
        assert all(isinstance(item, str) for item in cls.capabilities)
        undeclared = sorted(set(self.plugin_secrets) - set(cls.secrets))
        assert not undeclared, f"plugin_secrets names undeclared secrets {undeclared}"

    def test_registers_through_its_hook(self):
        """Loaded the way the core loads it (the ``entry_point``, else ``plugin_module``, else
        the nearest package of the class implementing the kind's hook), in strict mode, its
        registry hook registers this class under its id."""
        cls = self.plugin_class
        manager = PluginManager(load=[self.entry_point] if self.entry_point else None,
                                strict=True)
        if self.entry_point:
            manager.load_entry_points()
            assert self.entry_point in manager.plugins, (
                f"no entry point {self.entry_point!r} in the {PROJECT!r} group: is the "
                f"distribution installed (pip install -e .)?")
        else:
            manager.register_module(self._plugin_module(), name=cls.__module__)
            manager.collect()
        registration = manager.get(self.kind, cls.id)
        assert registration is not None, (
            f"{manager.kinds[self.kind].hook} did not register {cls.id!r}")
        assert registration.cls is cls

    def _plugin_module(self) -> Any:
        if self.plugin_module is not None:
            return self.plugin_module
        hook = _kind(self.kind).hook
        name = self.plugin_class.__module__
        while name:
            module = importlib.import_module(name)
            if hasattr(getattr(module, hook, None), f"{PROJECT}_impl"):
                return module
            name = name.rpartition(".")[0]
        pytest.fail(f"no module above {self.plugin_class.__module__} implements {hook}; "
                    f"set plugin_module or entry_point")

    def test_methods_keep_the_documented_signatures(self):
        """The kind's methods are implemented and callable as documented: same parameter names
        in the same order, defaults kept, any extra parameter optional; and the class is built
        as ``cls(config, secrets)``."""
        cls, base = self.plugin_class, _kind(self.kind).base
        for name in self.methods:
            assert getattr(cls, name) is not getattr(base, name), f"{name}() is not implemented"
        for name in ("__init__", "health_check", "probe", "close", *self.methods):
            expected, actual = inspect.getattr_static(base, name), inspect.getattr_static(cls, name)
            if isinstance(expected, property):
                assert isinstance(actual, property), f"{name} must be a property"
                continue
            problem = _signature_problem(getattr(base, name), getattr(cls, name))
            assert problem is None, f"{cls.__name__}.{name} {problem}"

    def test_working_config_passes_the_schema(self):
        """``plugin_config`` is a configuration the core would accept, so every other check
        runs on settings a workspace could really have."""
        validator = Draft202012Validator(self.plugin_class.config_schema)
        errors = [f"{'.'.join(map(str, e.absolute_path)) or 'config'}: {e.message}"
                  for e in validator.iter_errors(self.plugin_config)]
        assert not errors, f"plugin_config is refused by the schema: {errors}"

    def test_invalid_config_is_refused_with_config_invalid(self):
        """Each of :meth:`invalid_configs` (on top of ``plugin_config``) is refused by the schema
        (the API answers 422 before building) or by the constructor with ``ConfigInvalid``;
        never accepted, never a bare exception."""
        examples = self.invalid_configs()
        if not examples:
            pytest.skip("the schema accepts anything and invalid_configs() gives no example")
        validator = Draft202012Validator(self.plugin_class.config_schema)
        for example in examples:
            if not validator.is_valid({**self.plugin_config, **example}):
                continue
            try:
                self.build(example)
            except ConfigInvalid:
                continue
            except Exception as exc:
                pytest.fail(f"{example!r} passes the schema and the constructor raised "
                            f"{type(exc).__name__}, not ConfigInvalid: {exc}")
            pytest.fail(f"{example!r} is accepted by the schema and by the constructor")

    def test_provoked_failures_raise_codex32_errors(self):
        """Each of :meth:`error_cases` raises the expected :mod:`codex32.plugins.errors` type
        (bad credentials ``ProviderAuthError``, rate limits ``ProviderRateLimited`` with
        ``retry_after``, other failures ``ProviderError``), never an SDK's exception."""
        cases = self.error_cases()
        if not cases:
            pytest.skip(self._why_not("error_cases", "provokes no failure"))
        for case in cases:
            self.provoke(case)

    def test_slow_backend_raises_provider_timeout_in_time(self):
        """:meth:`timeout_case` (a slow backend, a small configured timeout) raises
        ``ProviderTimeout`` within its ``within`` bound (default 5 s), not after the backend."""
        case = self.timeout_case()
        if case is None:
            pytest.skip(self._why_not("timeout_case", "gives no slow backend"))
        assert case.expected is ProviderTimeout, "a timeout case expects ProviderTimeout"
        self.provoke(replace(case, within=case.within or DEFAULT_TIMEOUT_BOUND))

    def test_instances_for_two_workspaces_share_no_state(self):
        """Two instances, as built for two workspaces, share no mutable container (config,
        caches, lists), each keeps its own secrets, and building mutates neither the class's
        ``config_schema`` nor the caller's configuration."""
        cls = self.plugin_class
        schema_before = copy.deepcopy(cls.config_schema)
        config_before = copy.deepcopy(self.plugin_config)
        other_secrets = {name: f"{value}-workspace-b"
                         for name, value in self.plugin_secrets.items()}
        first, second = self.build(), self.build(secrets=other_secrets)
        first_found: dict[int, str] = {}
        second_found: dict[int, str] = {}
        _mutables(vars(first), "instance", first_found)
        _mutables(vars(second), "instance", second_found)
        shared = sorted(first_found[key] for key in first_found.keys() & second_found.keys())
        assert not shared, f"two instances share mutable state: {shared}"
        first.config["__conformance_probe__"] = "workspace A"
        assert "__conformance_probe__" not in second.config
        for name, value in self.plugin_secrets.items():
            assert (first.secret(name), second.secret(name)) == (value, other_secrets[name])
        assert cls.config_schema == schema_before, "building changed config_schema"
        assert self.plugin_config == config_before, "building changed the given configuration"

    def test_secrets_stay_out_of_reprs_logs_and_errors(self, caplog):
        """With distinctive secret values, ``repr``/``str`` of instances, the health check's
        detail, every log record at DEBUG (root and ``sdk_loggers``, extras included) and the
        messages of every provoked error (and the errors they chain) never contain them."""
        if not self.plugin_class.secrets:
            pytest.skip(f"{self.plugin_class.__name__} declares no secrets")
        caplog.set_level(logging.DEBUG)
        for name in self.sdk_loggers:
            caplog.set_level(logging.DEBUG, logger=name)
        markers = set(self.secret_markers())
        shown: list[tuple[str, str]] = []
        plugin = self.build()
        shown += [("repr", repr(plugin)), ("str", str(plugin))]
        for what, call in (("exercise", lambda: self.exercise(plugin)),
                           ("health check", lambda: shown.append(
                               ("health check", plugin.health_check().detail)))):
            try:
                call()
            except Exception as exc:
                shown.append((f"{what} error", _exception_text(exc)))
        timeout = self.timeout_case()
        for case in [*self.error_cases(), *([timeout] if timeout else [])]:
            markers.update((case.secrets or {}).values())
            with contextlib.suppress(Exception):  # what is raised is checked elsewhere
                if case.arrange is not None:
                    case.arrange()
                instance = self.build(case.config, case.secrets)
                shown.append((f"repr in {case.name!r}", repr(instance)))
                try:
                    (case.call or self.exercise)(instance)
                except Exception as exc:
                    shown.append((f"error of {case.name!r}", _exception_text(exc)))
        shown += [(f"log record of {record.name}", repr(vars(record)) + record.getMessage())
                  for record in caplog.records]
        shown.append(("formatted log", caplog.text))
        short = sorted(m for m in markers if len(m) < MIN_MARKER_LENGTH)
        assert markers and not short, (
            f"give plugin_secrets distinctive values of {MIN_MARKER_LENGTH}+ characters")
        leaks = sorted({where for where, text in shown for marker in markers if marker in text})
        assert not leaks, f"a secret value appears in: {leaks}"


# --- LLM providers -----------------------------------------------------------------------


class LLMProviderConformance(PluginConformance):
    """An :class:`LLMProvider`: ``complete()`` answers with text, the model and real usage."""

    kind = "llm"
    methods = ("complete",)

    def chat_request(self) -> ChatRequest:
        """The chat the checks send; override to suit a backend's script."""
        return ChatRequest(messages=(Message("system", "You are terse."),
                                     Message("user", "Say hello to the conformance kit.")),
                           max_tokens=64, timeout=10)

    def exercise(self, plugin: Any) -> ChatResult:
        return plugin.complete(self.chat_request())

    def test_complete_returns_text_model_and_usage(self):
        """``complete()`` returns a :class:`ChatResult` with non-empty text, the model that
        answered, non-negative token counts and a non-negative cost."""
        result = self.exercise(self.build())
        assert isinstance(result, ChatResult)
        assert isinstance(result.text, str) and result.text, "the answer has no text"
        assert isinstance(result.model, str) and result.model, "the answer names no model"
        assert isinstance(result.usage, Usage)
        check_usage(result.usage)
        assert result.cost_usd >= 0

    def test_stream_yields_text_and_ends_with_usage(self):
        """``stream()`` yields :class:`ChatChunk` pieces whose text adds up to an answer; the
        last chunk carries the usage (the base class's default streams ``complete()``)."""
        chunks = list(self.build().stream(self.chat_request()))
        assert chunks and all(isinstance(chunk, ChatChunk) for chunk in chunks)
        assert "".join(chunk.text for chunk in chunks), "the stream has no text"
        assert isinstance(chunks[-1].usage, Usage), "the last chunk carries no usage"
        check_usage(chunks[-1].usage)


def check_usage(usage: Usage) -> None:
    """Token counts are non-negative ints; cached input is part of the input, reasoning part
    of the output."""
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"):
        count = getattr(usage, name)
        assert isinstance(count, int) and count >= 0, f"{name} is {count!r}"
    assert usage.cached_input_tokens <= usage.input_tokens, "cached input exceeds input"
    assert usage.reasoning_tokens <= usage.output_tokens, "reasoning exceeds output"


# --- Embedders ---------------------------------------------------------------------------


class EmbedderConformance(PluginConformance):
    """An :class:`Embedder`: one vector of ``dimension`` floats per text, in order."""

    kind = "embedder"
    methods = ("embed", "dimension")
    texts: ClassVar[tuple[str, ...]] = ("The quick brown fox", "jumps over the lazy dog",
                                        "conformance")

    def exercise(self, plugin: Any) -> EmbeddingResult:
        return plugin.embed(list(self.texts))

    def test_embed_returns_one_vector_of_dimension_floats_per_text(self):
        """``embed(texts)`` returns ``len(texts)`` vectors, each of ``dimension`` floats, and
        names the model; ``dimension`` is a positive int."""
        embedder = self.build()
        dimension = embedder.dimension
        assert isinstance(dimension, int) and dimension > 0
        result = self.exercise(embedder)
        assert isinstance(result, EmbeddingResult)
        assert len(result.vectors) == len(self.texts)
        for vector in result.vectors:
            assert len(vector) == dimension
            assert all(isinstance(value, float) for value in vector), "vectors hold floats"
        assert isinstance(result.model, str) and result.model

    def test_embedding_no_texts_returns_no_vectors(self):
        """``embed([])`` returns no vectors (and no error)."""
        assert self.build().embed([]).vectors == []


# --- Vector stores -----------------------------------------------------------------------


def _unit(*values: float) -> list[float]:
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


class VectorStoreConformance(PluginConformance):
    """A :class:`VectorStore`: round trips by id, metadata filters, and workspaces that never
    see, overwrite or delete each other's vectors."""

    kind = "vector_store"
    methods = ("upsert", "search", "delete")

    def new_collection(self) -> str:
        """A collection name no earlier test used."""
        return f"conformance_{uuid.uuid4().hex[:12]}"

    def exercise(self, plugin: Any) -> object:
        collection = self.new_collection()
        plugin.upsert(WORKSPACE_A, collection, [VectorItem("probe", _unit(1, 0, 0, 0))])
        return plugin.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=1)

    def _compass(self, store: Any, collection: str) -> None:
        store.upsert(WORKSPACE_A, collection, [
            VectorItem("north", _unit(1, 0, 0, 0), {"name": "north", "group": "a"}),
            VectorItem("east", _unit(0, 1, 0, 0), {"name": "east", "group": "b"}),
            VectorItem("north-east", _unit(1, 1, 0, 0), {"name": "north-east", "group": "a"}),
        ])

    def test_upsert_search_delete_round_trip(self):
        """Search ranks best first with its metadata; upserting an id replaces it; deleting
        removes it (unknown ids are ignored); a collection never written is empty."""
        store, collection = self.build(), self.new_collection()
        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0)) == []
        self._compass(store, collection)

        hits = store.search(WORKSPACE_A, collection, _unit(1, 0.1, 0, 0), top_k=3)

        assert [hit.id for hit in hits] == ["north", "north-east", "east"]
        assert hits[0].score >= hits[1].score >= hits[2].score
        assert hits[0].metadata == {"name": "north", "group": "a"}
        store.upsert(WORKSPACE_A, collection, [
            VectorItem("north", _unit(1, 0, 0, 0), {"name": "replaced", "group": "a"})])
        hits = store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=10)
        assert [hit.id for hit in hits].count("north") == 1
        assert hits[0].metadata == {"name": "replaced", "group": "a"}
        store.delete(WORKSPACE_A, collection, ["north", "never-stored"])
        hits = store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=10)
        assert [hit.id for hit in hits] == ["north-east", "east"]

    def test_search_filters_match_metadata(self):
        """``filters`` keep the hits whose metadata has every given key and value."""
        store, collection = self.build(), self.new_collection()
        self._compass(store, collection)

        hits = store.search(WORKSPACE_A, collection, _unit(0, 1, 0, 0), top_k=10,
                            filters={"group": "a"})

        assert sorted(hit.id for hit in hits) == ["north", "north-east"]

    def test_another_workspace_never_sees_overwrites_or_deletes_vectors(self):
        """With the same ids and collection in workspaces A and B, B's search returns only
        B's items, B's upsert leaves A's item as it was, and B's delete leaves A's items."""
        store, collection = self.build(), self.new_collection()
        for workspace, owner in ((WORKSPACE_A, "a"), (WORKSPACE_B, "b")):
            store.upsert(workspace, collection, [
                VectorItem("same-id", _unit(1, 0, 0, 0), {"owner": owner}),
                VectorItem(f"only-{owner}", _unit(0, 1, 0, 0), {"owner": owner}),
            ])

        def seen(workspace: str) -> dict[str, str]:
            hits = store.search(workspace, collection, _unit(1, 0, 0, 0), top_k=10)
            return {hit.id: hit.metadata.get("owner") for hit in hits}

        assert seen(WORKSPACE_B) == {"same-id": "b", "only-b": "b"}, (
            "workspace B's search must return B's items only (id: owner shown)")
        assert seen(WORKSPACE_A) == {"same-id": "a", "only-a": "a"}, (
            "workspace B's upsert of the same id must leave A's item as it was")
        store.delete(WORKSPACE_B, collection, ["same-id", "only-a"])
        assert seen(WORKSPACE_A) == {"same-id": "a", "only-a": "a"}, (
            "workspace B's delete must leave A's items")
        assert seen(WORKSPACE_B) == {"only-b": "b"}

    # The checks below came with issue 13 (knowledge): one contiguous block, kept together.

    def test_top_k_keeps_the_nearest_best_first(self):
        """``top_k`` bounds the hits to the nearest ones, best first."""
        store, collection = self.build(), self.new_collection()
        self._compass(store, collection)

        hits = store.search(WORKSPACE_A, collection, _unit(1, 0.2, 0, 0), top_k=2)

        assert [hit.id for hit in hits] == ["north", "north-east"]

    def test_collections_of_one_workspace_are_apart(self):
        """The same id in two collections is two items: search, upsert and delete in one
        collection never see or touch the other's."""
        store, first, second = self.build(), self.new_collection(), self.new_collection()
        store.upsert(WORKSPACE_A, first, [VectorItem("same", _unit(1, 0, 0, 0), {"in": "1"})])
        store.upsert(WORKSPACE_A, second, [VectorItem("same", _unit(0, 1, 0, 0), {"in": "2"})])
        store.delete(WORKSPACE_A, second, ["same"])

        hits = store.search(WORKSPACE_A, first, _unit(0, 1, 0, 0), top_k=10)

        assert [(hit.id, hit.metadata) for hit in hits] == [("same", {"in": "1"})]
        assert store.search(WORKSPACE_A, second, _unit(0, 1, 0, 0), top_k=10) == []

    def test_each_dimension_is_searched_apart(self):
        """Vectors of another dimension in the same collection (a change of embedder) are
        neither returned nor an error; ``delete`` removes an id from every dimension."""
        store, collection = self.build(), self.new_collection()
        store.upsert(WORKSPACE_A, collection, [VectorItem("small", _unit(1, 0, 0, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("large", _unit(1, 0, 0, 0, 0, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("both", _unit(0, 1, 0, 0)),
                                               VectorItem("small-2", _unit(0, 0, 1, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("both", _unit(0, 1, 0, 0, 0, 0))])

        def ids(dimension: int) -> set[str]:
            query = _unit(1, *[0.1] * (dimension - 1))
            return {hit.id for hit in store.search(WORKSPACE_A, collection, query, top_k=10)}

        assert ids(4) == {"small", "both", "small-2"}
        assert ids(6) == {"large", "both"}
        store.delete(WORKSPACE_A, collection, ["both"])
        assert ids(4) == {"small", "small-2"} and ids(6) == {"large"}

    def test_mixed_dimensions_in_one_upsert_are_a_value_error(self):
        """One upsert holds one dimension: a mix raises ValueError and writes nothing."""
        store, collection = self.build(), self.new_collection()
        with pytest.raises(ValueError, match="dimension"):
            store.upsert(WORKSPACE_A, collection, [VectorItem("1", _unit(1, 0, 0, 0)),
                                                   VectorItem("2", _unit(1, 0, 0))])
        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0), top_k=10) == []

    @pytest.mark.parametrize("filters", [
        {"owner": 'a" or workspace_id != "'},
        {"owner": "a' OR 1=1 --"},
        {"owner": 'b" || true || "'},
        {'owner"] == "a" or metadata["owner': "a"},
        {"owner) or (true": "a"},
    ])
    def test_crafted_filters_never_reach_another_workspace(self, filters):
        """A filter is data: one crafted to escape the workspace condition (``or``, quotes,
        expressions) either raises ValueError or matches in the caller's workspace only."""
        store, collection = self.build(), self.new_collection()
        store.upsert(WORKSPACE_A, collection, [VectorItem("a", _unit(1, 0, 0, 0),
                                                          {"owner": "a"})])
        store.upsert(WORKSPACE_B, collection, [VectorItem("b", _unit(1, 0, 0, 0),
                                                          {"owner": "b"})])
        try:
            hits = store.search(WORKSPACE_B, collection, _unit(1, 0, 0, 0), top_k=10,
                                filters=filters)
        except ValueError:
            return
        assert all(hit.metadata.get("owner") == "b" for hit in hits), (
            f"workspace B's search with {filters} returned A's items")

    def test_delete_collection_removes_only_that_collection(self):
        """``delete_collection`` empties the workspace's collection (every dimension) and
        leaves its other collections and other workspaces' same-named collection."""
        store, collection, other = self.build(), self.new_collection(), self.new_collection()
        _skip_unless_supported(store, "delete_collection")
        for workspace in (WORKSPACE_A, WORKSPACE_B):
            store.upsert(workspace, collection, [VectorItem("x", _unit(1, 0, 0, 0))])
        store.upsert(WORKSPACE_A, collection, [VectorItem("y", _unit(1, 0, 0, 0, 0, 0))])
        store.upsert(WORKSPACE_A, other, [VectorItem("x", _unit(1, 0, 0, 0))])

        assert store.delete_collection(WORKSPACE_A, collection) is True

        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0)) == []
        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0, 0, 0)) == []
        assert [hit.id for hit in store.search(WORKSPACE_A, other, _unit(1, 0, 0, 0))] == ["x"]
        assert [hit.id for hit in store.search(WORKSPACE_B, collection,
                                               _unit(1, 0, 0, 0))] == ["x"]

    def test_delete_workspace_removes_its_vectors_only(self):
        """``delete_workspace`` removes every vector of the workspace (every collection and
        dimension); another workspace's vectors, same ids, stay."""
        store, collection, other = self.build(), self.new_collection(), self.new_collection()
        _skip_unless_supported(store, "delete_workspace")
        for workspace in (WORKSPACE_A, WORKSPACE_B):
            store.upsert(workspace, collection, [VectorItem("x", _unit(1, 0, 0, 0))])
            store.upsert(workspace, other, [VectorItem("x", _unit(1, 0, 0, 0, 0, 0))])

        assert store.delete_workspace(WORKSPACE_A) is True

        assert store.search(WORKSPACE_A, collection, _unit(1, 0, 0, 0)) == []
        assert store.search(WORKSPACE_A, other, _unit(1, 0, 0, 0, 0, 0)) == []
        assert [hit.id for hit in store.search(WORKSPACE_B, collection,
                                               _unit(1, 0, 0, 0))] == ["x"]
        assert [hit.id for hit in store.search(WORKSPACE_B, other,
                                               _unit(1, 0, 0, 0, 0, 0))] == ["x"]


def _skip_unless_supported(store: Any, method: str) -> None:
    """Skip when ``method`` is the base class's default (returns False: not supported)."""
    if getattr(type(store), method) is getattr(_kind("vector_store").base, method):
        pytest.skip(f"{type(store).__name__} does not implement {method}() (the default "
                    "returns False; the caller deletes by id)")


# --- Code generators ---------------------------------------------------------------------


class CodeGeneratorConformance(PluginConformance):
    """A :class:`CodeGenerator`: templates with JSON Schema parameters, and generated bots
    whose ``bot.py`` compiles and defines ``main``."""

    kind = "code_generator"
    methods = ("templates", "generate")

    def generation_requests(self) -> list[GenerationRequest]:
        """What to generate; default: each template that needs no parameter, with none."""
        return [GenerationRequest(name="Conformance bot", template=template.id)
                for template in self.build().templates()
                if not template.parameters.get("required")]

    def exercise(self, plugin: Any) -> object:
        requests = self.generation_requests()
        return plugin.generate(requests[0]) if requests else plugin.templates()

    def test_templates_declare_json_schema_parameters(self):
        """``templates()`` returns :class:`Template` objects with distinct ids whose
        ``parameters`` are valid JSON Schemas of ``type: object``."""
        templates = self.build().templates()
        assert isinstance(templates, list)
        for template in templates:
            assert isinstance(template, Template) and template.id and template.title
            Draft202012Validator.check_schema(template.parameters)
            assert template.parameters.get("type") == "object", template.id
        assert len({t.id for t in templates}) == len(templates), "template ids repeat"

    def test_generate_returns_a_compiling_bot_py_with_main(self):
        """For each of :meth:`generation_requests`, ``generate()`` returns text files whose
        entry point (``bot.py``) compiles and defines a top-level ``main``."""
        requests = self.generation_requests()
        if not requests:
            pytest.fail("no generation request: give generation_requests()")
        generator = self.build()
        for request in requests:
            bot = generator.generate(request)
            assert isinstance(bot, GeneratedBot)
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in bot.files.items())
            assert bot.entrypoint in bot.files, f"{request.template}: no {bot.entrypoint}"
            tree = ast.parse(bot.code, bot.entrypoint)
            compile(tree, bot.entrypoint, "exec")
            assert any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                       and node.name == "main" for node in tree.body), (
                f"{request.template}: {bot.entrypoint} defines no main(event, context)")

    def test_bad_parameters_raise_config_invalid(self):
        """A template parameter of the wrong type makes ``generate()`` raise ``ConfigInvalid``
        (the API's 422), not generate a broken bot or fail another way."""
        generator = self.build()
        templates = {t.id: t for t in generator.templates()}
        for request in self.generation_requests():
            template = templates.get(request.template or "")
            wrong = wrong_type_configs(template.parameters, request.parameters) if template \
                else []
            if wrong:
                with pytest.raises(ConfigInvalid):
                    generator.generate(replace(request, parameters={**request.parameters,
                                                                    **wrong[0]}))
                return
        pytest.skip("no template parameter to get wrong")


# --- Notifiers ---------------------------------------------------------------------------


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


# --- Executors ---------------------------------------------------------------------------

ECHO_BOT = "def main(event, context):\n    return {'echo': event.get('value')}\n"
FAILING_BOT = "def main(event, context):\n    raise ValueError('conformance failure')\n"
ENDLESS_BOT = "import time\n\n\ndef main(event, context):\n    while True:\n" \
              "        time.sleep(0.05)\n"
CALLING_BOT = ("def main(event, context):\n    llm = getattr(context, 'llm', None)\n"
               "    if llm is None:\n        return {'llm': 'absent'}\n"
               "    try:\n        return {'llm': llm.chat('ping')['text']}\n"
               "    except Exception as exc:\n"
               "        return {'llm': getattr(exc, 'type', type(exc).__name__)}\n")


class ExecutorConformance(PluginConformance):
    """An :class:`Executor`: runs bots to an outcome, enforces the timeout, stops within 2 s
    of a cancel, and names its isolation level."""

    kind = "executor"
    methods = ("run", "isolation_level")
    start_seconds: ClassVar[float] = 3.0  # time a run may take beyond the bot's own work
    cancel_seconds: ClassVar[float] = 2.0
    # Whether runs carry ``request.services`` out of the sandbox (``context.llm``).
    serves_platform_services: ClassVar[bool] = False

    def execution_request(self, code: str, event: dict[str, Any] | None = None,
                          timeout_seconds: float = 10.0) -> ExecutionRequest:
        """One run of ``code`` in workspace A."""
        return ExecutionRequest(execution_id=f"exe-{uuid.uuid4().hex[:12]}",
                                workspace_id=WORKSPACE_A, bot_id="conformance-bot", code=code,
                                event=event or {},
                                limits=ExecutionLimits(timeout_seconds=timeout_seconds))

    def exercise(self, plugin: Any) -> ExecutionOutcome:
        return plugin.run(self.execution_request(ECHO_BOT, {"value": 42}), threading.Event())

    def test_runs_a_trivial_bot_to_succeeded(self):
        """A bot returning a dict ends ``succeeded`` with that dict as its result."""
        outcome = self.exercise(self.build())
        assert isinstance(outcome, ExecutionOutcome)
        assert outcome.status == "succeeded", f"{outcome.status}: {outcome.error}"
        assert outcome.result == {"echo": 42}

    def test_a_failing_bot_ends_failed_with_its_error(self):
        """A bot that raises ends ``failed`` with the error's type and message."""
        outcome = self.build().run(self.execution_request(FAILING_BOT), threading.Event())
        assert outcome.status == "failed"
        assert outcome.error and outcome.error.get("type") == "ValueError", outcome.error
        assert "conformance failure" in str(outcome.error.get("message"))

    def test_a_bot_past_its_timeout_ends_timed_out(self):
        """A bot that never returns ends ``timed_out`` soon after ``limits.timeout_seconds``."""
        started = time.monotonic()
        outcome = self.build().run(self.execution_request(ENDLESS_BOT, timeout_seconds=1),
                                   threading.Event())
        elapsed = time.monotonic() - started
        assert outcome.status == "timed_out", outcome.status
        assert elapsed <= 1 + self.start_seconds, f"the run took {elapsed:.1f}s"

    def test_cancel_stops_a_run_within_two_seconds(self):
        """Once ``cancel`` is set, ``run()`` returns ``cancelled`` within 2 s."""
        executor, cancel = self.build(), threading.Event()
        outcomes: list[ExecutionOutcome] = []
        runner = threading.Thread(target=lambda: outcomes.append(executor.run(
            self.execution_request(ENDLESS_BOT, timeout_seconds=30), cancel)), daemon=True)
        runner.start()
        runner.join(0.5)  # let the bot get going; the contract holds at any point
        cancel.set()
        cancelled_at = time.monotonic()
        runner.join(self.cancel_seconds + 1)
        elapsed = time.monotonic() - cancelled_at
        assert outcomes, f"run() had not returned {elapsed:.1f}s after cancel"
        assert elapsed <= self.cancel_seconds + 0.25, f"run() took {elapsed:.2f}s to stop"
        assert outcomes[0].status == "cancelled", outcomes[0].status

    def test_a_run_given_platform_services_runs_and_serves_them_if_it_can(self):
        """A request with ``services`` runs like any other; an executor that serves them
        (``serves_platform_services``) gives the bot the handler's answer."""
        services = BotServices(call=lambda method, params, timeout: {"text": "pong"})
        request = replace(self.execution_request(CALLING_BOT), services=services)
        outcome = self.build().run(request, threading.Event())
        assert outcome.status == "succeeded", f"{outcome.status}: {outcome.error}"
        if self.serves_platform_services:
            assert outcome.result == {"llm": "pong"}

    def test_isolation_level_is_a_known_level(self):
        """``isolation_level()`` returns one of ``ISOLATION_LEVELS``."""
        assert self.build().isolation_level() in ISOLATION_LEVELS
