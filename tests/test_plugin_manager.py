"""Plugin loading: installed entry points, broken plugins, hook typos, duplicate ids."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from codex32.plugins.manager import DuplicatePluginId, PluginLoadError, load

GOOD = '''
from codex32.plugins import hookimpl
from codex32.plugins.interfaces import Notifier

class PagerNotifier(Notifier):
    id = "pager"
    title = "Pager"

    def notify(self, notification):
        pass

@hookimpl
def register_notifiers(register):
    register(PagerNotifier)
'''
BROKEN_IMPORT = "import module_that_does_not_exist\n"
TYPO = '''
from codex32.plugins import hookimpl

@hookimpl
def register_notifier(register):
    pass
'''
DUPLICATE = '''
from codex32.plugins import hookimpl
from codex32.plugins.interfaces import Embedder

class Impostor(Embedder):
    id = "hashing"

@hookimpl
def register_embedders(register):
    register(Impostor)
'''
FAILING_REGISTER = '''
from codex32.plugins import hookimpl

@hookimpl
def register_llm_providers(register):
    raise RuntimeError("boom")
'''


def install(site: Path, name: str, source: str, version: str = "1.2.3") -> None:
    """Write a module and its dist-info with a ``codex32`` entry point, as pip would."""
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    dist = site / f"{name}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[codex32]\n{name} = {name}\n")


@pytest.fixture()
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("c32test_")]:
        sys.modules.pop(name)


def test_installed_first_party_plugins_and_defaults_load():
    manager = load()
    assert {"builtin", "openai", "anthropic", "milvus", "webhook"} <= set(manager.plugins)
    assert manager.get("llm", "builtin") and manager.get("llm", "openai")
    assert manager.get("executor", "subprocess") and manager.get("vector_store", "milvus")
    builtin = manager.plugins["builtin"]
    assert builtin.distribution == "codex32" and builtin.error is None
    assert "register_llm_providers" in builtin.hooks


def test_a_plugin_installed_into_the_environment_appears_on_restart(site):
    assert load().get("notifier", "pager") is None
    install(site, "c32test_pager", GOOD)
    manager = load()
    assert manager.get("notifier", "pager").plugin == "c32test_pager"
    info = manager.plugins["c32test_pager"]
    assert (info.distribution, info.version) == ("c32test_pager", "1.2.3")
    assert info.registered == {"notifier": ["pager"]}


@pytest.mark.parametrize(("source", "expected"), [
    (BROKEN_IMPORT, "import failed: ModuleNotFoundError"),
    (TYPO, "unknown hook(s) register_notifier"),
    (FAILING_REGISTER, "register_llm_providers failed: RuntimeError: boom"),
])
def test_a_broken_plugin_is_reported_and_the_rest_still_load(site, source, expected):
    install(site, "c32test_broken", source)
    manager = load()
    assert expected in manager.plugins["c32test_broken"].error
    assert manager.get("llm", "builtin") is not None


def test_strict_mode_raises_on_a_broken_plugin(site):
    install(site, "c32test_broken", BROKEN_IMPORT)
    with pytest.raises(PluginLoadError, match="c32test_broken"):
        load(strict=True)


def test_two_plugins_claiming_one_id_fail_start_up_naming_both(site):
    install(site, "c32test_dupe", DUPLICATE)
    with pytest.raises(DuplicatePluginId) as caught:
        load()
    assert "builtin" in str(caught.value) and "c32test_dupe" in str(caught.value)


def test_load_plugins_setting_limits_what_loads(site):
    install(site, "c32test_pager", GOOD)
    manager = load(["builtin"])
    assert set(manager.plugins) == {"builtin"}
    assert manager.get("notifier", "pager") is None


@pytest.mark.parametrize("names", [["c32test_pager"], []])
def test_a_filter_never_drops_the_defaults(site, names):
    """Like llm's DEFAULT_PLUGINS: the core's defaults are registered by the manager itself,
    so CODEX32_LOAD_PLUGINS naming only a third-party plugin (or nothing) still has them."""
    install(site, "c32test_pager", GOOD)
    manager = load(names)
    assert set(manager.plugins) == {"builtin", *names}
    assert manager.get("llm", "builtin") and manager.get("executor", "subprocess")
    assert (manager.get("notifier", "pager") is not None) == bool(names)


def test_broken_plugin_shows_in_the_plugins_endpoint(site, make_app):
    install(site, "c32test_broken", BROKEN_IMPORT)
    app = make_app()
    from tests.conftest import sign_up

    tenant = sign_up(app.test_client())
    body = tenant.call("GET", "/api/v1/plugins").json
    by_name = {p["name"]: p for p in body["plugins"]}
    assert "ModuleNotFoundError" in by_name["c32test_broken"]["error"]
    assert by_name["builtin"]["registered"]["llm"] == ["builtin"]
    assert body["isolation"]["subprocess"] in ("none", "process", "user", "namespace")


STARTUP = '''
from codex32.plugins import hookimpl

STARTED = []

@hookimpl
def startup(app):
    STARTED.append(app.name)
    if app.config.get("FAIL_STARTUP"):
        raise RuntimeError("no nsjail here")
'''


def test_startup_hooks_run_once_per_app_and_failures_are_recorded(site):
    install(site, "c32test_startup", STARTUP)
    manager = load()

    class App:
        name = "codex32"
        config: dict = {}

    manager.startup(App())
    import c32test_startup

    assert c32test_startup.STARTED == ["codex32"]
    App.config = {"FAIL_STARTUP": True}
    manager.startup(App())
    assert "startup failed: RuntimeError: no nsjail here" in manager.plugins[
        "c32test_startup"].error


HALF_REGISTERED = '''
from codex32.plugins import hookimpl
from codex32.plugins.interfaces import Embedder, Notifier

class PagerNotifier(Notifier):
    id = "pager"

class Sketchy(Embedder):
    id = "sketchy"

@hookimpl
def register_notifiers(register):
    register(PagerNotifier)

@hookimpl
def register_embedders(register):
    register(Sketchy)
    register(object)  # not an Embedder: the hook fails here
'''


def test_a_plugin_whose_registration_fails_midway_serves_nothing(site):
    """A plugin recorded as broken has none of its classes in the registry, whichever hook
    failed and whatever it registered first (it would otherwise be served half loaded)."""
    install(site, "c32test_half", HALF_REGISTERED)
    manager = load()
    info = manager.plugins["c32test_half"]
    assert "register_embedders failed: TypeError" in info.error
    assert manager.get("embedder", "sketchy") is None
    assert manager.get("notifier", "pager") is None
    assert info.registered == {}
    assert manager.get("embedder", "hashing") is not None
