"""TemplateGenerator: each template renders a bot that compiles, runs offline, passes its tests."""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib.util
import io
import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import yaml

from codex32.plugins.defaults.template_generator import TEMPLATE_IDS, TemplateGenerator
from codex32.plugins.errors import ConfigInvalid
from codex32.plugins.interfaces import GenerationRequest

SAMPLES = {
    "http_health_check": {"url": "https://example.com/health", "must_contain": "ok"},
    "feed_digest": {"feed_url": "https://example.com/feed.xml", "max_items": 2},
    "csv_report": {"group_by": "region", "sum_column": "amount"},
    "webhook_relay": {"target_url": "https://hooks.example.com/in", "signing_secret": "KEY"},
    "scheduled_cleanup": {"max_age_days": 7},
}
INJECTION = '"); import os; os.system("x")#'


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes = b"", status: int = 200) -> None:
        super().__init__(body)
        self.status = status


def generate(template: str, parameters: dict | None = None, **request) -> dict[str, str]:
    bot = TemplateGenerator().generate(GenerationRequest(
        name=request.pop("name", f"My {template}"), template=template,
        parameters=SAMPLES[template] if parameters is None else parameters, **request))
    return bot.files


def load_bot(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    spec = importlib.util.spec_from_file_location(f"bot_{tmp_path.name}", tmp_path / "bot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_at_least_five_templates_with_json_schema_parameters():
    templates = TemplateGenerator().templates()

    assert {t.id for t in templates} >= set(SAMPLES)
    assert all(t.parameters["type"] == "object" for t in templates)
    assert tuple(t.id for t in templates) == TEMPLATE_IDS


@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_every_template_renders_the_full_set_of_files(template):
    files = generate(template)

    assert set(files) == {"bot.py", "config.yaml", "requirements.txt", "README.md",
                          "test_bot.py"}
    tree = ast.parse(files["bot.py"])
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert [a.arg for a in main.args.args] == ["event", "context"]
    compile(files["test_bot.py"], "test_bot.py", "exec")
    config = yaml.safe_load(files["config.yaml"])
    assert config["template"] == template and config["entrypoint"] == "bot.py"
    assert config["parameters"].items() >= SAMPLES[template].items()
    assert files["requirements.txt"].startswith("#")


@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_the_generated_tests_pass_offline(template, tmp_path):
    for name, text in generate(template).items():
        (tmp_path / name).write_text(text)

    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})

    assert run.returncode == 0, run.stdout[-2000:]


@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_a_generated_bot_carries_the_shared_reliability_code_and_tests(template):
    files = generate(template)
    bot, tests = ast.parse(files["bot.py"]), ast.parse(files["test_bot.py"])

    imported = {n.module for n in ast.walk(bot) if isinstance(n, ast.ImportFrom)}
    assert "reliability" not in imported  # self-contained: the code is copied in
    defined = {n.name for n in bot.body if isinstance(n, ast.ClassDef)}
    assert {"Calls", "Breaker", "CallFailed", "CircuitOpen"} <= defined
    names = [n.name for n in tests.body if isinstance(n, ast.FunctionDef)]
    assert len(names) == len(set(names))
    shared = "test_the_breaker_opens_after_failures_in_a_row_then_lets_a_trial_through"
    assert {"context", "slept", "clock", shared} <= set(names)
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "fakes" for n in tests.body)


def test_csv_report_runs_for_real(tmp_path, bot_context):
    bot = load_bot(tmp_path, generate("csv_report"))
    csv_text = "region,amount\nnorth,10\nsouth,2.5\nnorth,5\nsouth,n/a\n"

    result = bot.main({"csv": csv_text}, bot_context())

    assert result["rows"] == 4
    assert result["groups"] == [{"key": "north", "count": 2, "sum": 15.0},
                                {"key": "south", "count": 2, "sum": 2.5}]
    assert result["unparsable_values"] == 1
    assert "north: 2 rows, amount 15" in result["summary"]


def test_scheduled_cleanup_runs_for_real(tmp_path, bot_context):
    bot = load_bot(tmp_path, generate("scheduled_cleanup"))
    records = [{"id": 1, "created_at": "2024-01-01T00:00:00Z"},
               {"id": 2, "created_at": "2024-01-30T00:00:00+00:00"},
               {"id": 3, "created_at": 1704067200},
               {"id": 4, "created_at": "yesterday"}]

    result = bot.main({"records": records, "now": "2024-01-31T00:00:00Z"}, bot_context())

    assert result["delete"] == [1, 3]
    assert result["kept"] == 1
    assert result["skipped"] == [4]
    assert result["deleted"] is False


def test_http_health_check_runs_with_a_patched_network(tmp_path, bot_context, monkeypatch):
    bot = load_bot(tmp_path, generate("http_health_check"))
    seen = []

    def answer(request, timeout):
        seen.append((request.full_url, timeout))
        return FakeResponse(b"status: ok", 200)

    monkeypatch.setattr(bot.urllib.request, "urlopen", answer)
    assert bot.main({}, bot_context())["ok"] is True
    assert seen == [("https://example.com/health", 10)]

    def down(request, timeout):
        raise urllib.error.URLError("no route to host")

    slept: list[float] = []
    monkeypatch.setattr(bot.Calls, "sleep", staticmethod(slept.append))
    monkeypatch.setattr(bot.urllib.request, "urlopen", down)
    result = bot.main({}, bot_context())
    assert result | {"latency_ms": 0, "metrics": None} == {
        "ok": False, "url": "https://example.com/health", "status": None,
        "expected_status": 200, "latency_ms": 0, "metrics": None,
        "error": "requesting https://example.com/health failed after 3 attempts: "
                 "no route to host"}
    assert len(slept) == 2  # two retries, after a jittered backoff
    assert result["metrics"] | {"call_ms": 0, "run_ms": 0} == {
        "calls": 1, "attempts": 3, "retries": 2, "failures": 1, "cache_hits": 0,
        "short_circuits": 0, "call_ms": 0, "run_ms": 0, "breakers": {"example.com": "closed"}}


def test_feed_digest_runs_with_a_patched_network(tmp_path, bot_context, monkeypatch):
    bot = load_bot(tmp_path, generate("feed_digest"))
    rss = (b"<rss><channel><item><title>One</title><link>https://e.com/1</link></item>"
           b"<item><title>Two</title><link>https://e.com/2</link></item>"
           b"<item><title>Three</title><link>https://e.com/3</link></item></channel></rss>")
    monkeypatch.setattr(bot.urllib.request, "urlopen", lambda request, timeout: FakeResponse(rss))

    result = bot.main({}, bot_context())

    assert [i["title"] for i in result["items"]] == ["One", "Two"]
    assert result["digest"] == "- One https://e.com/1\n- Two https://e.com/2"


def test_webhook_relay_signs_what_it_sends(tmp_path, bot_context, monkeypatch):
    bot = load_bot(tmp_path, generate("webhook_relay"))
    sent = []
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        lambda request, timeout: sent.append(request) or FakeResponse(b"", 200))

    result = bot.main({"payload": {"a": 1}}, bot_context({"KEY": "k"}))

    expected = hmac.new(b"k", b'{"a":1}', hashlib.sha256).hexdigest()
    assert result.pop("metrics")["attempts"] == 1
    assert result == {"delivered": True, "status": 200, "bytes": 7, "signed": True}
    assert sent[0].get_header("X-codex32-signature") == f"sha256={expected}"
    with pytest.raises(RuntimeError, match="KEY"):
        bot.main({"payload": {}}, bot_context())


@pytest.mark.parametrize(("template", "parameter"), [
    ("csv_report", "group_by"),
    ("http_health_check", "must_contain"),
    ("feed_digest", "keyword"),
    ("scheduled_cleanup", "timestamp_field"),
])
def test_an_injection_attempt_stays_a_literal_string(template, parameter, tmp_path):
    files = generate(template, {**SAMPLES[template], parameter: INJECTION},
                     name='x"""\nimport os\nos.system("y")\n"""')
    tree = ast.parse(files["bot.py"])

    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(n.value, ast.Constant)}
    assert INJECTION in constants.values()
    assert constants["BOT_NAME"].startswith('x"""')
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr == "system"]
    assert calls == []
    assert not any(isinstance(n, ast.Import) and n.names[0].name == "os" for n in tree.body)


def test_a_url_that_is_not_a_url_is_refused():
    with pytest.raises(ConfigInvalid) as caught:
        generate("http_health_check", {"url": f"https://x.com/{INJECTION}"})

    assert caught.value.errors == {"parameters.url": ["must be an http(s) URL"]}


def test_parameter_errors_are_listed_per_field():
    with pytest.raises(ConfigInvalid) as caught:
        generate("http_health_check", {"expected_status": 42, "timeout_seconds": "soon",
                                       "surprise": 1})

    assert set(caught.value.errors) == {"parameters.url", "parameters.expected_status",
                                        "parameters.timeout_seconds", "parameters.surprise"}
    assert caught.value.errors["parameters.url"] == ["required"]
    assert caught.value.errors["parameters.surprise"] == ["unknown parameter"]


def test_non_finite_numbers_are_refused():
    with pytest.raises(ConfigInvalid) as caught:
        generate("scheduled_cleanup", {"max_age_days": float("inf")})

    assert "parameters.max_age_days" in caught.value.errors


def test_an_unknown_or_missing_template_is_config_invalid():
    generator = TemplateGenerator()
    for template in ("nope", None):
        with pytest.raises(ConfigInvalid) as caught:
            generator.generate(GenerationRequest(name="x", template=template))
        assert "template" in caught.value.errors


def test_a_specification_supplies_template_trigger_and_schedule():
    spec = {"template": "http_health_check", "trigger": "schedule", "schedule": "*/5 * * * *",
            "parameters": {"url": "https://example.com"}}

    files = TemplateGenerator().generate(GenerationRequest(name="site check",
                                                           specification=spec)).files

    config = yaml.safe_load(files["config.yaml"])
    assert (config["trigger"], config["schedule"]) == ("schedule", "*/5 * * * *")
    assert config["parameters"]["url"] == "https://example.com"


def test_the_readme_lists_the_parameters():
    readme = generate("csv_report", name="Sales | by region")["README.md"]

    assert readme.startswith("# Sales \\| by region\n")
    assert f"| `group_by` | `{json.dumps('region')}` |" in readme


@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_the_readme_shows_usage_with_the_templates_example_input(template):
    from codex32.plugins.defaults.template_catalogue import CATALOGUE

    example = CATALOGUE[template].example
    readme = generate(template)["README.md"]

    assert example is not None
    usage = readme.split("## Usage\n", 1)[1].split("\n## ", 1)[0]
    body = json.loads(usage.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert body == {"input": example["input"]}
    assert example["result"] in usage


@pytest.mark.parametrize("template", ["csv_report", "scheduled_cleanup"])
def test_the_example_input_of_an_offline_template_runs(template, tmp_path, bot_context):
    from codex32.plugins.defaults.template_catalogue import CATALOGUE

    bot = load_bot(tmp_path, generate(template))
    result = bot.main(CATALOGUE[template].example["input"], bot_context())

    assert "metrics" in result and result["metrics"]["failures"] == 0


NEEDS_NETWORK = {  # template -> (parameters, does the rendered bot need the network?)
    "http_health_check": (SAMPLES["http_health_check"], True),
    "feed_digest": (SAMPLES["feed_digest"], True),
    "webhook_relay": (SAMPLES["webhook_relay"], True),
    "csv_report": (SAMPLES["csv_report"], False),
    "csv_report with a URL": ({**SAMPLES["csv_report"], "csv_url": "https://example.com/a.csv"},
                              True),
    "scheduled_cleanup": (SAMPLES["scheduled_cleanup"], False),
    "scheduled_cleanup with a delete API": (
        {**SAMPLES["scheduled_cleanup"], "delete_url": "https://api.example.com/delete"}, True),
}


def test_templates_whose_bots_reach_the_network_declare_it():
    declared = {t.id: t.requires for t in TemplateGenerator().templates()}
    assert all(declared[template] == {"network": True} for template in TEMPLATE_IDS), declared


@pytest.mark.parametrize("case", list(NEEDS_NETWORK))
def test_a_generated_bot_says_whether_it_needs_the_network(case):
    parameters, needed = NEEDS_NETWORK[case]
    template = case.split(" ")[0]
    bot = TemplateGenerator().generate(GenerationRequest(name="n", template=template,
                                                         parameters=parameters))
    assert bot.requires == ({"network": True} if needed else {})
    config = yaml.safe_load(bot.files["config.yaml"])
    assert config.get("requires", {}) == bot.requires
