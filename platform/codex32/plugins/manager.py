"""Plugin loading: the core's defaults, then entry points, into one registry per kind.

The defaults (:mod:`codex32.plugins.defaults`) are registered directly, always, like llm's
``DEFAULT_PLUGINS``: ``CODEX32_LOAD_PLUGINS`` filters the installed entry points only. Each
entry point loads in its own try: a broken plugin (import error, unknown hook, failing
registration) is recorded with its distribution, version and error, none of its classes is
served (not even those a failing hook registered before it failed), and the platform still
starts; strict mode raises instead. Two plugins registering one id for one kind stop start-up
with a message naming both. The hooks and the registry's kinds come from
:mod:`codex32.plugins.kinds`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from typing import Any

import pluggy

from codex32.plugins import defaults, hookspecs, kinds
from codex32.plugins.interfaces import Plugin

log = logging.getLogger(__name__)

GROUP = "codex32"
# The name the defaults are registered under (and stored with a workspace's configuration).
DEFAULTS = "builtin"


def spec_names() -> frozenset[str]:
    """Every hook a plugin may implement: the declared kinds' registry hooks and the others."""
    others = {name for name in dir(hookspecs)
              if hasattr(getattr(hookspecs, name), f"{hookspecs.PROJECT}_spec")}
    return frozenset(others | {kind.hook for kind in kinds.declared()})


class PluginLoadError(RuntimeError):
    """A plugin could not be loaded (raised only in strict mode)."""


class DuplicatePluginId(RuntimeError):
    """Two plugins registered the same id for the same kind."""


@dataclass
class LoadedPlugin:
    """One entry point as loaded: where it came from, what it registered, what went wrong."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Registration:
    """A plugin class registered for a kind, and the entry point that registered it."""

    kind: str
    cls: type[Plugin]
    plugin: str


class PluginManager:
    """The pluggy manager plus the registry of plugin classes per kind."""

    def __init__(self, *, load: list[str] | None = None, strict: bool = False) -> None:
        self.kinds = {kind.name: kind for kind in kinds.declared()}
        self.spec_names = spec_names()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.add_hookspecs(kinds.registry_hookspecs())
        self.strict = strict
        self.allowed = set(load) if load is not None else None
        self.plugins: dict[str, LoadedPlugin] = {}
        self.registry: dict[str, dict[str, Registration]] = {name: {} for name in self.kinds}

    # -- loading --------------------------------------------------------------------------

    def load_entry_points(self) -> None:
        """Register the defaults, then load every ``codex32`` entry point (or only those
        CODEX32_LOAD_PLUGINS names: the filter never drops the defaults)."""
        self.register_defaults()
        for entry_point in sorted(entry_points(group=GROUP), key=lambda ep: ep.name):
            if entry_point.name == DEFAULTS:  # an install older than the direct registration
                continue
            if self.allowed is not None and entry_point.name not in self.allowed:
                continue
            self._load(entry_point)
        self.collect()

    def register_defaults(self) -> LoadedPlugin:
        """Register the core's defaults under ``builtin``, as the ``codex32`` distribution."""
        info = self.register_module(defaults, DEFAULTS)
        info.distribution = "codex32"
        try:
            info.version = version("codex32")
        except PackageNotFoundError:  # run from a source tree that is not installed
            info.version = None
        return info

    def register_module(self, module: Any, name: str) -> LoadedPlugin:
        """Register an already imported plugin object (tests, embedding apps)."""
        info = LoadedPlugin(name=name, distribution=None, version=None)
        self.plugins[name] = info
        self._register(module, info)
        return info

    def _load(self, entry_point: EntryPoint) -> None:
        dist = getattr(entry_point, "dist", None)
        info = LoadedPlugin(name=entry_point.name,
                            distribution=dist.metadata["Name"] if dist else None,
                            version=dist.version if dist else None)
        self.plugins[entry_point.name] = info
        try:
            module = entry_point.load()
        except Exception as exc:
            self._fail(info, f"import failed: {type(exc).__name__}: {exc}")
            return
        self._register(module, info)

    def _register(self, module: Any, info: LoadedPlugin) -> None:
        impls = [name for name in dir(module)
                 if hasattr(getattr(module, name, None), f"{hookspecs.PROJECT}_impl")]
        unknown = sorted(set(impls) - self.spec_names)
        if unknown:
            self._fail(info, f"unknown hook(s) {', '.join(unknown)}: check the spelling "
                             f"against {', '.join(sorted(self.spec_names))}")
            return
        try:
            self.pm.register(module, name=info.name)
        except Exception as exc:
            self._fail(info, f"registration failed: {type(exc).__name__}: {exc}")
            return
        info.hooks = sorted(impls)

    def _fail(self, info: LoadedPlugin, error: str) -> None:
        info.error = error
        log.error("plugin %s (%s %s) failed to load: %s", info.name, info.distribution,
                  info.version, error)
        if self.strict:
            raise PluginLoadError(f"plugin {info.name}: {error}")

    def collect(self) -> None:
        """Call every registry hook, one plugin at a time, and fill the registry."""
        self.pm.check_pending()
        for kind in self.kinds.values():
            for impl in getattr(self.pm.hook, kind.hook).get_hookimpls():
                info = self.plugins.get(impl.plugin_name) or self.register_module_info(impl)
                if info.error:
                    continue
                try:
                    impl.function(register=lambda cls, _k=kind.name, _i=info:
                                  self._add(_k, cls, _i))
                except DuplicatePluginId:
                    raise
                except Exception as exc:
                    self._withdraw(info)
                    self._fail(info, f"{kind.hook} failed: {type(exc).__name__}: {exc}")

    def _withdraw(self, info: LoadedPlugin) -> None:
        """Take every class ``info``'s plugin registered out of the registry: a plugin whose
        registration failed midway is not served half loaded."""
        for kind, ids in info.registered.items():
            for plugin_id in ids:
                self.registry[kind].pop(plugin_id, None)
        info.registered = {}

    def register_module_info(self, impl: Any) -> LoadedPlugin:
        """The record of a plugin registered straight on the pluggy manager."""
        info = LoadedPlugin(name=impl.plugin_name, distribution=None, version=None)
        self.plugins[impl.plugin_name] = info
        return info

    def _add(self, kind: str, cls: type[Plugin], info: LoadedPlugin) -> None:
        base = self.kinds[kind].base
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"{cls!r} is not a {base.__name__} subclass")
        if not cls.id or not isinstance(cls.id, str):
            raise TypeError(f"{cls.__name__} has no id")
        existing = self.registry[kind].get(cls.id)
        if existing is not None:
            raise DuplicatePluginId(
                f"{kind} id '{cls.id}' is registered by both plugin '{existing.plugin}' "
                f"({existing.cls.__module__}.{existing.cls.__name__}) and plugin '{info.name}' "
                f"({cls.__module__}.{cls.__name__}); uninstall one or rename its id")
        self.registry[kind][cls.id] = Registration(kind=kind, cls=cls, plugin=info.name)
        info.registered.setdefault(kind, []).append(cls.id)

    # -- lookups --------------------------------------------------------------------------

    def classes(self, kind: str) -> dict[str, Registration]:
        """Registered classes of ``kind`` by id."""
        return self.registry[kind]

    def get(self, kind: str, plugin_id: str) -> Registration | None:
        """The class registered as ``plugin_id`` for ``kind``, or None."""
        return self.registry.get(kind, {}).get(plugin_id)

    def default(self, kind: str) -> str | None:
        """The id the kind's declaration names as its default."""
        found = self.kinds.get(kind)
        return found.default if found else None

    def failure(self, name: str) -> dict[str, str | None] | None:
        """Name, distribution, version and error of entry point ``name`` if it failed to load
        (None when it loaded or is not installed)."""
        info = self.plugins.get(name)
        if info is None or not info.error:
            return None
        return {"name": info.name, "distribution": info.distribution, "version": info.version,
                "error": info.error}

    def broken(self) -> list[LoadedPlugin]:
        """The entry points that failed to load, register or start, by name."""
        return sorted((info for info in self.plugins.values() if info.error),
                      key=lambda info: info.name)

    def startup(self, app: Any) -> None:
        """Call each plugin's ``startup`` hook; a failure is recorded against that plugin."""
        for impl in self.pm.hook.startup.get_hookimpls():
            try:
                impl.function(app=app)
            except Exception as exc:
                info = self.plugins.get(impl.plugin_name)
                if info is not None:
                    self._fail(info, f"startup failed: {type(exc).__name__}: {exc}")


def load(load_only: list[str] | None = None, strict: bool = False) -> PluginManager:
    """A manager with every installed plugin loaded."""
    manager = PluginManager(load=load_only, strict=strict)
    manager.load_entry_points()
    return manager
