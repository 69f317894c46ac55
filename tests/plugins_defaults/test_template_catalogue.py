"""The template catalogue: templates are files that ship in the wheel, load checked, and test
themselves; the built-in heuristics take their ids, keywords and slugs from it."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from codex32.plugins.defaults.builtin_llm import specification_from, template_for
from codex32.plugins.defaults.template_catalogue import (
    CATALOGUE,
    TEMPLATE_IDS,
    BrokenTemplate,
    load,
)
from codex32.plugins.defaults.template_generator import TemplateGenerator

PACKAGED = resources.files("codex32.plugins.defaults") / "templates"
TEMPLATE_FILES = ("bot.py", "test_bot.py", "template.yaml")
# The shared files beside the templates, and their names in a template's test folder (the
# fakes' fixtures reach the tests as a conftest; a generated bot has them in its test_bot.py).
SHARED_FILES = (("fakes.py", "fakes.py"), ("fakes.py", "conftest.py"),
                ("reliability.py", "reliability.py"),
                ("reliability_tests.py", "test_reliability.py"))
ROOT = Path(__file__).resolve().parents[2]


def run_pytest(folder: Path) -> subprocess.CompletedProcess:
    """pytest in ``folder``, away from the project's configuration and plugins."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(folder), str(folder)], capture_output=True,
                          text=True, cwd=folder, timeout=120,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})


@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_each_template_passes_its_own_tests_against_its_own_bot(template, tmp_path):
    for name in ("bot.py", "test_bot.py"):
        (tmp_path / name).write_bytes((PACKAGED / template / name).read_bytes())
    for shared, name in SHARED_FILES:
        (tmp_path / name).write_bytes((PACKAGED / shared).read_bytes())

    run = run_pytest(tmp_path)

    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout


def test_the_catalogue_is_every_folder_of_the_package_data():
    folders = {f.name for f in PACKAGED.iterdir() if f.is_dir() and f.name[0] not in "._"}

    assert set(TEMPLATE_IDS) == folders
    assert [t.id for t in TemplateGenerator().templates()] == list(TEMPLATE_IDS)
    assert all(s.template.id == i for i, s in CATALOGUE.items())


@pytest.fixture
def broken(tmp_path: Path):
    """A copy of one real template; edit a file of it, then load the copy."""
    root = tmp_path / "templates"
    folder = root / "http_health_check"
    folder.mkdir(parents=True)
    for name in TEMPLATE_FILES:
        (folder / name).write_bytes((PACKAGED / "http_health_check" / name).read_bytes())

    def edit(name: str, old: str, new: str) -> Path:
        text = (folder / name).read_text()
        assert old in text, old
        (folder / name).write_text(text.replace(old, new))
        return root

    return edit


def test_an_intact_copy_of_a_template_loads(broken):
    root = broken("template.yaml", "title:", "title:")

    assert list(load(root)) == ["http_health_check"]


@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("template.yaml", "slug:", "slogan:", "template.yaml: ValidationError: 'slug' is a required"),
    ("template.yaml", "id: http_health_check", "id: health", "not the folder's name"),
    ("template.yaml", "type: integer", "type: integr", "SchemaError"),
    ("template.yaml", "      default: 200\n", "", "neither required nor has a default"),
    ("template.yaml", "network_when: null", "network_when: uri", "not a parameter"),
    ("template.yaml", "title: HTTP", "title: [HTTP", "template.yaml: ParserError"),
    ("bot.py", 'METHOD = "GET"\n', "", "must set exactly"),
    ("bot.py", 'METHOD = "GET"', "METHOD = str()", "ValueError"),
    ("bot.py", "EXPECTED_STATUS = 200", "EXPECTED_STATUS = 42", "42 is less than"),
    ("bot.py", "# codex32: end of parameters\n", "", "needs one block"),
    ("bot.py", "def main(event: dict[str, Any], context: Any)",
     "def run(event: dict[str, Any], context: Any)", "no main(event, context)"),
    ("bot.py", "from reliability import CallFailed, Calls\n", "",
     "does not import its calls' reliability"),
    ("test_bot.py", "def healthy_body()", "def clock()", "the shared fakes or reliability"),
    ("bot.py", "def main(", "def main(:", "bot.py: SyntaxError"),
    ("test_bot.py", "def test_", "def check_", "no test"),
])
def test_a_broken_template_fails_loudly_naming_the_template(broken, name, old, new, says):
    root = broken(name, old, new)

    with pytest.raises(BrokenTemplate) as caught:
        load(root)

    assert "'http_health_check'" in str(caught.value)
    assert says in str(caught.value)


def test_a_template_without_its_bot_fails_loudly(broken):
    root = broken("template.yaml", "title:", "title:")
    (root / "http_health_check" / "bot.py").unlink()

    with pytest.raises(BrokenTemplate, match=r"bot\.py: FileNotFoundError"):
        load(root)


def test_an_empty_catalogue_fails_loudly(tmp_path):
    with pytest.raises(BrokenTemplate, match="no templates"):
        load(tmp_path)


@pytest.mark.parametrize("template", TEMPLATE_IDS)
def test_the_builtin_heuristics_choose_each_template_by_its_own_keywords(template):
    assert template_for(" ".join(CATALOGUE[template].strong_keywords)) == template


def test_a_template_added_to_the_catalogue_reaches_the_builtin_heuristics(monkeypatch):
    added = dataclasses.replace(
        CATALOGUE["csv_report"], strong_keywords=("invoice",), weak_keywords=(),
        slug="invoices", task="total invoices",
        template=dataclasses.replace(CATALOGUE["csv_report"].template, id="invoice_report"))
    monkeypatch.setitem(CATALOGUE, "invoice_report", added)

    spec = specification_from("total each invoice from https://billing.example.com/export")
    unsure = specification_from("do something useful")

    assert spec["template"] == "invoice_report"
    assert spec["name"] == "billing-example-com-invoices"
    assert spec["clarifying_questions"][0] == "What should `group_by` be (the column to group by)?"
    assert unsure["clarifying_questions"][0].endswith(", or total invoices.")


def test_the_wheel_ships_every_template_and_the_installed_package_finds_them(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("platform", "tenants"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # No build isolation: an isolated build fetches setuptools from the package index (tests
    # reach no other machine); the dev extra installs pyproject.toml's build requirements.
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("codex32-*.whl")

    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"codex32/plugins/defaults/templates/{t}/{name}"
                for t in TEMPLATE_IDS for name in TEMPLATE_FILES}
    assert expected | {f"codex32/plugins/defaults/templates/{name}"
                       for name, _ in SHARED_FILES} <= shipped

    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    probe = ("import codex32, sys\n"
             "from codex32.plugins.defaults.template_catalogue import TEMPLATE_IDS\n"
             "print(codex32.__file__)\nprint(','.join(TEMPLATE_IDS))\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert run.returncode == 0, run.stderr[-2000:]
    installed_at, ids = run.stdout.split()
    assert installed_at.startswith(str(tmp_path / "site"))
    assert ids.split(",") == list(TEMPLATE_IDS)

