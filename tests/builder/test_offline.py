"""The offline path: the built-in heuristics' template-shaped specifications rendered by the
template generator, validated, and labelled as heuristics; anything else is an honest stop."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
import yaml

from codex32.plugins.defaults.builtin_llm import specification_from
from codex32.plugins.defaults.template_catalogue import CATALOGUE, parameter_block
from codex32.services import gateway
from codex32.services.builder import config_file, generate
from tests.builder.conftest import run_pipeline


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
        built = run_pipeline(app, tenant, spec_for(template))

        assert built.passed, (template, built.stopped, built.rounds and
                              built.rounds[0].validation.findings)
        assert built.source == "heuristics" and len(built.rounds) == 1
        config = yaml.safe_load(built.files["config.yaml"])
        assert config["template"] == template and config["generated_by"] == "heuristics"
        # Every artifact says where it came from.
        for path in ("bot.py", "test_bot.py", "requirements.txt", "README.md"):
            assert "the built-in heuristics (not a language model)" in " ".join(
                built.files[path].replace("#", " ").split()), path
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
    built = run_pipeline(app, tenant, {"name": "poet", "purpose": "Write me a sonnet each day.",
                                    "trigger": {"type": "manual"}})

    assert not built.passed and built.rounds == [] and built.files == {}
    assert built.source == "heuristics"
    assert "no language model is configured" in built.stopped
    assert "templates only" in built.stopped


@pytest.mark.parametrize("description", [
    "Check https://example.com/health every 5 minutes and alert me if it is down",
    "Every morning at 8 send me a digest of the RSS feed https://example.com/feed.xml",
    "Each Monday build a report from the CSV at https://example.com/sales.csv grouped by region",
    "When a webhook arrives, relay the payload to https://hooks.example.com/in",
    "Every night delete files older than 30 days",
])
def test_what_the_heuristics_fill_renders_as_it_stands(app, tenant, description):
    """Rendering only: the test above validates every template's bot."""
    drafted = specification_from(description)  # the built-in LLM's own draft
    spec = {"name": drafted["name"], "purpose": drafted["purpose"],
            "trigger": {"type": drafted["trigger"], "cron": drafted["schedule"]},
            "template": drafted["template"], "parameters": drafted["parameters"]}

    with app.app_context():
        files, template = generate.from_template(tenant.workspace_id, spec,
                                                 caller=gateway.Caller())

    assert sorted(files) == ["README.md", "bot.py", "requirements.txt", "test_bot.py"]
    config = yaml.safe_load(config_file.render(spec, source="heuristics", template=template))
    assert config["template"] == drafted["template"]
    assert config["parameters"].items() >= drafted["parameters"].items()
    assert config.get("schedule", {}).get("cron") == drafted["schedule"]


def test_a_parameter_the_heuristics_still_ask_for_stops_the_build_naming_it(app, tenant):
    drafted = specification_from("Each Monday build a report from the CSV at "
                                 "https://example.com/sales.csv")
    assert drafted["clarifying_questions"]  # the conversation would ask for the grouping
    built = run_pipeline(app, tenant, {"name": "report", "purpose": drafted["purpose"],
                                    "trigger": {"type": "manual"}, "template": "csv_report",
                                    "parameters": drafted["parameters"]})
    assert built.rounds == [] and "parameters.group_by: required" in built.stopped
