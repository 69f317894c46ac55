"""The builder's validation: each step catches what it should, a template bot passes them all,
requirements install once into a cached read-only environment, and the generated tests run
inside the real sandbox (where they cannot reach the host).

One app for the module, whose platform settings point pip at a local folder of wheels (no
network): a tiny wheel is built here. Sandbox runs need the namespace level (root,
bubblewrap); those tests skip with the reason elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex32 import runtime
from codex32.execution import sandbox
from codex32.plugins.defaults.template_generator import TEMPLATE_IDS, TemplateGenerator
from codex32.plugins.interfaces import ExecutionLimits, GenerationRequest
from codex32.services.builder.report import STEPS, Validation
from codex32.services.builder.validation import validate
from tests.builder.wheels import wheel
from tests.conftest import make_settings, sign_up

GOOD_BOT = ('"""Doubles a number."""\n\nfrom __future__ import annotations\n\nFACTOR = 2\n\n\n'
            "def main(event: dict, context) -> dict:\n"
            '    """Double event["n"]."""\n'
            '    return {"value": event.get("n", 0) * FACTOR}\n')
GOOD_TESTS = ("import bot\n\n\ndef test_doubles():\n"
              '    assert bot.main({"n": 2}, None) == {"value": 4}\n')


@pytest.fixture(scope="module")
def builder_app(database, tmp_path_factory):
    """An app whose pip sees only a local folder of wheels, and whose allowlist names them."""
    from codex32.app import create_app

    wheels = tmp_path_factory.mktemp("wheels")
    wheel(wheels, "tinylib", "1.0", "ANSWER = 42\n")
    wheel(wheels, "needy", "1.0", "import tinylib\n", requires=("tinylib>=1",))
    settings = make_settings(tmp_path_factory.mktemp("builder-data"), builder_index_url="none",
                             builder_find_links=(str(wheels),),
                             builder_allowed_requirements=("tinylib", "needy", "ghost"))
    return create_app(settings, database.urls)


@pytest.fixture(scope="module")
def namespace_level() -> None:
    found = sandbox.availability(sandbox.SandboxPolicy())
    if not (found.ok and found.level == "namespace"):
        pytest.skip(f"needs the namespace level (root, bubblewrap, libseccomp): {found.detail}")


@pytest.fixture(scope="module")
def workspace(builder_app) -> Any:
    return sign_up(builder_app.test_client())


def check(app, files: dict[str, str], workspace_id: str = "00000000-0000-0000-0000-000000000000",
          **limits: Any) -> Validation:
    with app.app_context():
        return validate(files, workspace_id=workspace_id,
                        limits=ExecutionLimits(**limits) if limits else None)


def statuses(validation: Validation) -> dict[str, str]:
    return {step.name: step.status for step in validation.steps}


def step(validation: Validation, name: str):
    return next(s for s in validation.steps if s.name == name)


def failed_at(validation: Validation, name: str) -> None:
    """``name`` failed, every step before it passed, every one after it was skipped."""
    index = STEPS.index(name)
    expected = {s: "passed" if i < index else "failed" if i == index else "skipped"
                for i, s in enumerate(STEPS)}
    assert statuses(validation) == expected, validation.findings
    assert not validation.passed


TEMPLATE_PARAMETERS = {"http_health_check": {"url": "https://example.com/health"},
                       "feed_digest": {"feed_url": "https://example.com/feed.xml"},
                       "csv_report": {"group_by": "region"},
                       "webhook_relay": {"target_url": "https://example.com/hook"},
                       "scheduled_cleanup": {}}


def test_every_template_has_parameters_here():
    assert set(TEMPLATE_PARAMETERS) == set(TEMPLATE_IDS)


# Every template (each a sandboxed pytest run of a second or two): the reliability code they
# share is in every bot.py, and its tests in every test_bot.py, so each must reach the aim.
@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_a_template_bot_passes_every_step_with_its_coverage(builder_app, namespace_level,
                                                            template):
    generated = TemplateGenerator().generate(GenerationRequest(
        name="Template bot", template=template, parameters=TEMPLATE_PARAMETERS[template]))
    events: list[tuple[str, dict]] = []
    with builder_app.app_context():
        validation = validate(generated.files, workspace_id="00000000-0000-0000-0000-000000000000",
                              progress=lambda event, detail: events.append((event, detail)))
    assert validation.passed, validation.findings
    assert [s.name for s in validation.steps] == list(STEPS)
    tests = validation.tests
    assert tests is not None and tests.failed == tests.errors == 0 and tests.passed >= 15
    assert tests.coverage_percent is not None and tests.coverage_percent >= 80
    assert not [f for f in validation.findings if f.code == "coverage"]  # the builder's aim
    assert not [f for f in validation.findings if f.severity == "error"]
    assert "passed" in tests.output
    assert [(d["name"], d["status"]) for _, d in events][:2] == [("syntax", "running"),
                                                                 ("syntax", "passed")]
    assert len(events) == 2 * len(STEPS)


def test_a_syntax_error_fails_at_its_line_and_skips_the_rest(builder_app):
    validation = check(builder_app, {"bot.py": "def main(event, context):\n    return (\n",
                                     "test_bot.py": GOOD_TESTS})
    failed_at(validation, "syntax")
    (finding,) = validation.findings
    assert (finding.path, finding.line) == ("bot.py", 2)


def test_an_unsafe_path_is_a_syntax_finding(builder_app):
    validation = check(builder_app, {"../escape.py": "x = 1\n", "bot.py": GOOD_BOT})
    failed_at(validation, "syntax")


def test_an_undefined_name_fails_lint_and_an_unused_import_only_warns(builder_app):
    code = GOOD_BOT.replace("FACTOR = 2", "import json\n\nFACTOR = 2").replace(
        "* FACTOR}", "* FACTOR * MISSING}")
    validation = check(builder_app, {"bot.py": code, "test_bot.py": GOOD_TESTS})
    failed_at(validation, "lint")
    by_code = {f.code: f for f in step(validation, "lint").findings}
    assert by_code["F821"].severity == "error" and by_code["F821"].path == "bot.py"
    assert by_code["F821"].line == code.splitlines().index(
        next(line for line in code.splitlines() if "MISSING" in line)) + 1
    assert by_code["F401"].severity == "warning"


@pytest.mark.parametrize("line, code", [
    ("os.system(event['command'])", "CX102"),
    ("subprocess.run(event['command'], shell=True)", "CX103"),
    ("eval(event['expression'])", "CX101"),
    ("pickle.loads(event['blob'])", "CX104"),
    ("open('/proc/1/environ').read()", "CX106"),
])
def test_dangerous_calls_fail_the_security_step(builder_app, line, code):
    bot = ("import os\nimport pickle\nimport subprocess\n\n\n"
           f"def main(event, context):\n    {line}\n    return {{}}\n")
    validation = check(builder_app, {"bot.py": bot, "test_bot.py": GOOD_TESTS})
    failed_at(validation, "security")
    errors = {f.code for f in validation.findings if f.severity == "error"}
    assert code in errors and all(f.line for f in validation.findings)


def test_ctypes_is_refused_and_low_bandit_issues_only_warn(builder_app):
    bot = "import ctypes\n\n\ndef main(event, context):\n    return {}\n"
    assert "CX105" in {f.code for f in step(check(builder_app, {
        "bot.py": bot, "test_bot.py": GOOD_TESTS}), "security").findings}
    low = "import random\n\n\ndef main(event, context):\n    return {'n': random.random()}\n"
    validation = check(builder_app, {"bot.py": low, "test_bot.py": GOOD_TESTS})
    assert step(validation, "security").status == "passed"
    assert [f.code for f in step(validation, "security").findings] == ["B311"]


@pytest.mark.parametrize("text, message", [
    ("requests==2.32.3\n", "not on the platform's allowlist"),
    ("tinylib>=1.0\n", "pin one exact version"),
    ("--index-url http://evil.example/simple\ntinylib==1.0\n", "options are not allowed"),
    ("tinylib @ https://evil.example/tinylib.whl\n", "only name==version"),
    ("ghost==1.0\n", "could not install"),
    ("needy==1.0\n", "needs tinylib>=1"),
])
def test_a_bad_requirement_is_a_finding_not_a_crash(builder_app, workspace, text, message):
    validation = check(builder_app, {"bot.py": GOOD_BOT, "test_bot.py": GOOD_TESTS,
                                     "requirements.txt": text}, workspace.workspace_id)
    failed_at(validation, "requirements")
    assert message in " ".join(f.message for f in validation.findings)


def test_a_workspace_can_narrow_the_allowlist_but_not_widen_it(builder_app):
    tenant = sign_up(builder_app.test_client())
    response = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"builder": {
        "allowed_requirements": ["needy", "requests"]}}})
    assert response.status_code == 200, response.json
    files = {"bot.py": GOOD_BOT, "test_bot.py": GOOD_TESTS}
    narrowed = check(builder_app, {**files, "requirements.txt": "tinylib==1.0\n"},
                     tenant.workspace_id)
    assert "not on this workspace's allowlist" in narrowed.findings[0].message
    widened = check(builder_app, {**files, "requirements.txt": "requests==2.32.3\n"},
                    tenant.workspace_id)
    assert "not on the platform's allowlist" in widened.findings[0].message
    bad = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"builder": {
        "allowed_requirements": ["not a requirement!"]}}})
    assert bad.status_code == 422


def test_a_missing_main_fails_the_contract(builder_app):
    code = "def handler(event, context):\n    return {}\n"
    validation = check(builder_app, {"bot.py": code, "test_bot.py": GOOD_TESTS})
    failed_at(validation, "contract")
    assert "main(event, context)" in validation.findings[0].message


@pytest.mark.parametrize("code, message", [
    ("def main(event):\n    return {}\n", "positional parameters"),
    ("import time\n\ntime.sleep(1)\n\n\ndef main(event, context):\n    return {}\n",
     "call time.sleep()"),
])
def test_a_wrong_signature_or_a_top_level_side_effect_fails_the_contract(builder_app, code,
                                                                          message):
    validation = check(builder_app, {"bot.py": code, "test_bot.py": GOOD_TESTS})
    failed_at(validation, "contract")
    assert message in validation.findings[0].message


def test_tests_that_do_not_import_bot_fail_the_contract(builder_app):
    validation = check(builder_app, {"bot.py": GOOD_BOT, "test_bot.py": "def test_x():\n"
                                                                        "    assert True\n"})
    failed_at(validation, "contract")


def test_a_failing_test_is_reported_with_its_counts(builder_app, namespace_level):
    tests = GOOD_TESTS + ("\n\ndef test_wrong():\n"
                          '    assert bot.main({"n": 3}, None) == {"value": 7}\n')
    validation = check(builder_app, {"bot.py": GOOD_BOT, "test_bot.py": tests})
    failed_at(validation, "tests")
    run = validation.tests
    assert run is not None and (run.passed, run.failed, run.errors) == (1, 1, 0)
    assert run.coverage_percent == 100.0
    (finding,) = validation.findings
    assert "test_wrong" in finding.message and finding.path == "test_bot.py"
    assert finding.line == tests.splitlines().index(
        '    assert bot.main({"n": 3}, None) == {"value": 7}') + 1
    assert "1 failed, 1 passed" in run.output


def test_a_hanging_test_is_stopped_by_the_limits(builder_app, namespace_level):
    tests = GOOD_TESTS + "\n\ndef test_hangs():\n    while True:\n        pass\n"
    validation = check(builder_app, {"bot.py": GOOD_BOT, "test_bot.py": tests},
                       timeout_seconds=2)
    failed_at(validation, "tests")
    assert validation.findings[0].code == "timed-out"
    assert validation.tests is not None and validation.tests.errors == 1


def test_an_allowed_requirement_installs_once_and_is_reused_read_only(
        builder_app, workspace, namespace_level):
    tests = GOOD_TESTS + (
        "\n\ndef test_the_requirement_imports_read_only():\n"
        "    import os\n    import tinylib\n    assert tinylib.ANSWER == 42\n"
        "    folder = os.path.dirname(tinylib.__file__)\n"
        "    assert not os.access(folder, os.W_OK)\n"
        "    try:\n        open(os.path.join(folder, 'tinylib.py'), 'a')\n"
        "    except OSError:\n        pass\n    else:\n"
        "        raise AssertionError('the environment is writable')\n")
    files = {"bot.py": GOOD_BOT, "test_bot.py": tests,
             "requirements.txt": "# pinned\nTinyLib==1.0  # the answer\n"}
    first = check(builder_app, files, workspace.workspace_id)
    assert first.passed, first.findings
    assert step(first, "requirements").output.startswith("installed environment")
    second = check(builder_app, files, workspace.workspace_id)
    assert second.passed, second.findings
    assert step(second, "requirements").output.startswith("reused environment")
    assert second.tests is not None and second.tests.passed == 2


def test_generated_tests_cannot_reach_the_host(builder_app, namespace_level):
    data_dir = str(runtime.of(builder_app).settings.data_dir)
    project = str(Path(__file__).resolve().parents[2])
    # Written to slip past the security step (paths built at run time): the sandbox must hold.
    tests = GOOD_TESTS + (
        "\n\nimport os\nimport socket\nimport sys\n\n\n"
        f"HOST_PATHS = [{project!r}, {data_dir!r}, '/etc/' + 'shadow', '/' + 'root/.bashrc',"
        " '/home']\n\n\ndef test_the_host_is_out_of_reach():\n"
        "    assert [p for p in HOST_PATHS if os.path.exists(p)] == []\n"
        "    assert os.getuid() != 0\n"
        "    for folder in [p for p in sys.path if p.startswith('/opt')]:\n"
        "        assert not os.access(folder, os.W_OK)\n"
        "    try:\n        socket.create_connection(('127.0.0.1', 5432), timeout=1)\n"
        "    except OSError:\n        pass\n    else:\n"
        "        raise AssertionError('reached the host network')\n")
    validation = check(builder_app, {"bot.py": GOOD_BOT, "test_bot.py": tests})
    assert validation.passed, (validation.findings, validation.tests)
    assert validation.tests is not None and validation.tests.passed == 2
