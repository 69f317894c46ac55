"""Runs INSIDE the sandbox, as the run's bot.py: the generated tests under pytest and coverage.

Never imported by the platform: :mod:`.sandbox_tests` sends this file's text as the code of a
sandboxed run whose event holds the generated files. ``main`` writes them to ``project/`` in
the run's working directory, runs ``pytest`` on test_bot.py there with coverage of bot.py,
and returns the counts. pytest and coverage come from the read-only test tools environment
on ``sys.path``; pytest's own report goes to stdout, which is the run's (bounded) log.
"""

import io
import os
import sys


class Tally:
    """A pytest plugin counting outcomes and keeping where each failure happened."""

    def __init__(self, project):
        self.project = project
        self.counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        self.failures = []

    def _failure(self, report, kind):
        crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
        path = getattr(crash, "path", None)
        if path and os.path.isabs(path):
            path = os.path.relpath(path, self.project)
        message = getattr(crash, "message", None) or str(report.longrepr)[-500:]
        self.failures.append({"test": report.nodeid, "kind": kind, "message": message[:500],
                              "path": path, "line": getattr(crash, "lineno", None)})

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            if report.passed:
                self.counts["passed"] += 1
            elif report.failed:
                self.counts["failed"] += 1
                self._failure(report, "failed")
            else:
                self.counts["skipped"] += 1
        elif report.failed:
            self.counts["errors"] += 1
            self._failure(report, f"error in {report.when}")
        elif report.skipped and report.when == "setup":
            self.counts["skipped"] += 1

    def pytest_collectreport(self, report):
        if report.failed:
            self.counts["errors"] += 1
            self._failure(report, "collection error")


def main(event, context):
    """Write the files, run their tests with coverage of bot.py, return the counts."""
    project = os.path.join(os.getcwd(), "project")
    for path, text in event["files"].items():
        target = os.path.join(project, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
    del sys.modules["bot"]  # this harness: the tests import the generated bot.py
    os.chdir(project)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    import coverage
    import pytest

    bot = os.path.join(project, "bot.py")
    measure = coverage.Coverage(data_file=None, include=[bot], config_file=False)
    tally = Tally(project)
    measure.start()
    try:
        code = pytest.main(["-q", "-p", "no:cacheprovider", "--color=no", "-rfE",
                            "--rootdir", project, "-o", "addopts=", "test_bot.py"],
                           plugins=[tally])
    finally:
        measure.stop()
    try:
        percent = round(measure.report(file=io.StringIO()), 1)
    except coverage.exceptions.NoDataError:
        percent = None
    return {**tally.counts, "exit_code": int(code), "coverage": percent,
            "failures": tally.failures[:20]}
