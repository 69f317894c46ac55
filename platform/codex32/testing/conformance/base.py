"""The checks every plugin class must pass, whatever its kind (:class:`PluginConformance`)."""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator

from codex32.plugins.errors import (
    ConfigInvalid,
    PluginError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.plugins.hookspecs import PROJECT
from codex32.plugins.interfaces import (
    Plugin,
    with_defaults,
)
from codex32.plugins.manager import PluginManager
from codex32.testing.conformance.cases import (
    DEFAULT_TIMEOUT_BOUND,
    ID_PATTERN,
    MIN_MARKER_LENGTH,
    ErrorCase,
    _api_type,
    _exception_text,
    _kind,
    _mutables,
    _signature_problem,
    wrong_type_configs,
)
from codex32.testing.outbound import OutboundConformance


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
        if not override.__module__.startswith(__package__ or "") and override.__doc__:
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
        if case.kind is not None:
            assert getattr(error, "kind", None) == case.kind, (
                f"{case.name}: the error's kind is {getattr(error, 'kind', None)!r}, expected "
                f"{case.kind!r} (the gateway's router retries, falls back or stops on it)")
        if case.status is not None:
            assert getattr(error, "status", None) == case.status, (
                f"{case.name}: the error's status is {getattr(error, 'status', None)!r}, "
                f"expected the upstream's {case.status}")
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
