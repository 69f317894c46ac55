"""The offline path: the built-in heuristics' template-shaped specifications rendered by the
template generator, validated, and labelled as heuristics; anything else is an honest stop."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import yaml

from codex32.plugins.defaults.template_catalogue import CATALOGUE, parameter_block
from tests.builder.scripting import run_build


def example_parameters(template: str) -> dict:
    """The values in the template's own parameter block (its tests' example bot)."""
    source = CATALOGUE[template]
    start, end = parameter_block(source.code)
    values = {}
    for line in source.code.splitlines()[start + 1:end]:
        if " = " in line and not line.startswith("#"):
            constant, value = line.split(" = ", 1)
            if constant != "BOT_NAME":
                values[constant.lower()] = ast.literal_eval(value)
    return values


def spec_for(template: str) -> dict:
    return {"name": f"my {template}", "purpose": f"A {template} bot.",
            "trigger": {"type": "schedule", "cron": "*/5 * * * *", "timezone": "UTC"},
            "template": template, "parameters": example_parameters(template)}


def test_every_template_shaped_specification_builds_and_validates_offline(app, tenant,
                                                                          tmp_path):
    runs = {}
    for template in CATALOGUE:
        built = run_build(app, tenant, spec_for(template))

        assert built.passed, (template, built.stopped, built.rounds and
                              built.rounds[0].validation.findings)
        assert built.source == "heuristics" and len(built.rounds) == 1
        config = yaml.safe_load(built.files["config.yaml"])
        assert config["template"] == template and config["generated_by"] == "heuristics"
        assert config["schedule"] == {"cron": "*/5 * * * *", "timezone": "UTC"}
        assert config["parameters"].items() >= example_parameters(template).items()
        # The rendered tests pass as shipped (trusted template code, run on the host, all
        # templates at once).
        folder = tmp_path / template
        folder.mkdir()
        for path, content in built.files.items():
            (folder / path).write_text(content)
        runs[template] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bot.py"],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    for template, run in runs.items():
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 0, (template, output[-2000:])


def test_a_specification_no_template_fits_is_an_honest_failure(app, tenant):
    built = run_build(app, tenant, {"name": "poet", "purpose": "Write me a sonnet each day.",
                                    "trigger": {"type": "manual"}})

    assert not built.passed and built.rounds == [] and built.files == {}
    assert built.source == "heuristics"
    assert "no language model is configured" in built.stopped
    assert "templates only" in built.stopped


def test_a_template_missing_a_required_parameter_says_which(app, tenant):
    spec = spec_for("http_health_check")
    del spec["parameters"]["url"]

    built = run_build(app, tenant, spec)

    assert built.rounds == []
    assert "cannot be rendered" in built.stopped and "parameters.url: required" in built.stopped
