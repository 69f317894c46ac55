"""The defaults register through the same hooks as third-party plugins."""

from __future__ import annotations

import codex32.plugins.defaults as defaults
from codex32.plugins import kinds
from codex32.testing import registered_classes


def test_each_default_is_registered_by_its_hook():
    found = registered_classes(defaults, "builtin")

    assert [c.id for c in found["llm"]] == ["builtin"]
    assert [c.id for c in found["embedder"]] == ["hashing"]
    assert [c.id for c in found["code_generator"]] == ["template"]
    assert [c.id for c in found["notifier"]] == ["log"]
    assert len(found["executor"]) >= 1


def test_every_default_subclasses_its_kind_and_declares_itself():
    for kind, classes in registered_classes(defaults, "builtin").items():
        for cls in classes:
            assert cls.kind == kind and issubclass(cls, kinds.get(kind).base)
            assert cls.id and cls.title and cls.config_schema["type"] == "object"
