"""The suite of code generators."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from codex32.plugins.errors import (
    ConfigInvalid,
)
from codex32.plugins.interfaces import (
    GeneratedBot,
    GenerationRequest,
    Template,
)
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import (
    wrong_type_configs,
)


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
