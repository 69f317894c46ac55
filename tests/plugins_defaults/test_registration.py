"""The defaults register through the same hooks as third-party plugins."""

from __future__ import annotations

import pluggy

import codex32.plugins.defaults as defaults
from codex32.plugins import hookspecs
from codex32.plugins.interfaces import BASE_CLASSES


def registered() -> dict[str, list[type]]:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(defaults, name="builtin")
    manager.check_pending()
    found: dict[str, list[type]] = {}
    for hook in ("register_llm_providers", "register_embedders", "register_code_generators",
                 "register_notifiers", "register_executors"):
        getattr(manager.hook, hook)(register=found.setdefault(hook, []).append)
    return found


def test_each_default_is_registered_by_its_hook():
    found = registered()

    assert [c.id for c in found["register_llm_providers"]] == ["builtin"]
    assert [c.id for c in found["register_embedders"]] == ["hashing"]
    assert [c.id for c in found["register_code_generators"]] == ["template"]
    assert [c.id for c in found["register_notifiers"]] == ["log"]
    assert len(found["register_executors"]) >= 1


def test_every_default_subclasses_its_kind_and_declares_itself():
    for classes in registered().values():
        for cls in classes:
            assert issubclass(cls, BASE_CLASSES[cls.kind])
            assert cls.id and cls.title and cls.config_schema["type"] == "object"
