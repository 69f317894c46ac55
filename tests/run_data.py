"""The run's own data folder, and the guard that keeps the checkout's ``.data`` untouched.

This process's data folder and embedded milvus port, read from the environment by the milvus
plugin and the CLI (``CODEX32_DATA_DIR``, ``CODEX32_MILVUS_PORT``): a folder of the run's own
and a free port, set before any test (plugins/*/tests included, which tests/conftest.py's
fixtures do not reach) and the milvus server started there stopped at the end. Without them a
vector store started a detached server in the checkout's ``.data/milvus`` on the default port,
which outlived the run, and CLI tests wrote development keys into the checkout.

A test that builds settings from an environment of its own (``Settings.from_env({...})``, a
subprocess given ``env=``) loses that folder, and a development or test configuration then
writes its keys to ``.data`` under the working directory: the checkout. The run fails when
the checkout's ``.data`` was created or written during it (tests/conftest.py imports these
hooks; the xdist controller checks, after every worker is done).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_RUN_DATA: dict[str, Any] = {}


def _checkout_data() -> dict[Path, dict[str, int]]:
    """The checkout's ``.data`` folders (the root's, the working directory's): each entry's
    modification time, by name; a folder that does not exist is absent."""
    found = {}
    for folder in {ROOT / ".data", Path.cwd().resolve() / ".data"}:
        if folder.is_dir():
            found[folder] = {entry.name: entry.stat().st_mtime_ns
                             for entry in os.scandir(folder)}
    return found


def pytest_configure(config: pytest.Config) -> None:
    from codex32.testing.receivers import free_port

    _RUN_DATA["checkout"] = _checkout_data()
    _RUN_DATA["saved"] = {name: os.environ.get(name)
                          for name in ("CODEX32_DATA_DIR", "CODEX32_MILVUS_PORT")}
    _RUN_DATA["folder"] = Path(tempfile.mkdtemp(prefix="codex32-test-data-"))
    os.environ.update(CODEX32_DATA_DIR=str(_RUN_DATA["folder"]),
                      CODEX32_MILVUS_PORT=str(free_port()))


def checkout_data_written() -> list[str]:
    """What the run created or changed in the checkout's ``.data`` since it was configured."""
    before = _RUN_DATA.get("checkout", {})
    written = []
    for folder, entries in _checkout_data().items():
        old = before.get(folder)
        if old is None:
            written.append(f"{folder} was created ({', '.join(sorted(entries)) or 'empty'})")
            continue
        written += [f"{folder / name} was written" for name, mtime in sorted(entries.items())
                    if old.get(name) != mtime]
    return written


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run (the xdist controller's, or a run without xdist) when a test wrote into
    the checkout's ``.data``."""
    if hasattr(session.config, "workerinput"):
        return
    written = checkout_data_written()
    if not written:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    title = "a test wrote into the checkout's .data"
    lines = ["give it CODEX32_DATA_DIR (e.g. its tmp_path) when it builds settings or starts "
             "a process from an environment of its own:", *written]
    if reporter is None:
        print("\n".join([title, *lines]))
    else:
        reporter.write("\n")  # after the progress dots
        reporter.write_sep("=", title, red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True, bold=True)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def release_run_data() -> None:
    """Give the environment back, stop the run's milvus server and remove its folder."""
    folder = _RUN_DATA.pop("folder", None)
    for name, value in _RUN_DATA.pop("saved", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if folder is None:
        return
    try:
        from codex32_milvus.server import stop_server
    except ImportError:  # the milvus plugin is not installed
        pass
    else:
        stop_server(folder / "milvus")
    shutil.rmtree(folder, ignore_errors=True)
