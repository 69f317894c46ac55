"""Benchmark: the builder's validation of template bots, step by step, against a bare sandbox run.

For each template (the template generator's files), runs :func:`validate` N times and prints
the median time of each step, and the median of a trivial bot's sandboxed run interleaved
with them (so load from other processes hits both alike): the tests step's cost over a bare
run is pytest and coverage starting in the sandbox. The first validation of the process is
shown apart (bandit's rules and the test tools environment are loaded then). Usage:
``python bench/validation_bench.py [N]`` (default 5). Needs no database (template bots pin no
requirements); asserts nothing and touches nothing but a temporary folder.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
import types
import uuid
from collections import defaultdict
from pathlib import Path

from codex32.config import Settings
from codex32.execution import sandbox
from codex32.plugins.defaults.template_generator import TemplateGenerator
from codex32.plugins.interfaces import ExecutionRequest, GenerationRequest
from codex32.runtime import activated
from codex32.services.builder.report import STEPS
from codex32.services.builder.validation import validate

PARAMETERS = {"http_health_check": {"url": "https://example.com/health"},
              "feed_digest": {"feed_url": "https://example.com/feed.xml"},
              "csv_report": {"group_by": "region"},
              "webhook_relay": {"target_url": "https://example.com/hook"},
              "scheduled_cleanup": {}}
TRIVIAL_BOT = "def main(event, context):\n    return {'ok': True}\n"


def bare_run(policy: sandbox.SandboxPolicy) -> float:
    started = time.perf_counter()
    sandbox.run_sandboxed(ExecutionRequest(execution_id=f"bench-{uuid.uuid4().hex}",
                                           workspace_id="bench", bot_id="bench",
                                           code=TRIVIAL_BOT), threading.Event(), policy)
    return (time.perf_counter() - started) * 1000


def main(rounds: int) -> None:
    policy = sandbox.SandboxPolicy()
    found = sandbox.availability(policy)
    if not found.ok:
        sys.exit(f"the sandbox is unavailable here: {found.detail}")
    generator = TemplateGenerator()
    with tempfile.TemporaryDirectory(prefix="codex32-validation-bench-") as folder:
        # The runtime parts validation reads: the settings (data dir) and the sandbox policy.
        rt = types.SimpleNamespace(settings=Settings(data_dir=Path(folder)), sandbox=policy)
        with activated(rt):  # type: ignore[arg-type]
            print(f"isolation {found.level}; {rounds} validations per template\n")
            print(f"{'template':<18} " + " ".join(f"{s:>9}" for s in STEPS)
                  + f" {'total':>9} {'bare run':>9}   (median ms)")
            first = True
            for template, parameters in PARAMETERS.items():
                files = generator.generate(GenerationRequest(
                    name="Bench", template=template, parameters=parameters)).files
                times: dict[str, list[float]] = defaultdict(list)
                bare: list[float] = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    validation = validate(files, workspace_id=str(uuid.uuid4()))
                    total = (time.perf_counter() - started) * 1000
                    if not validation.passed:
                        sys.exit(f"{template} did not validate: {validation.findings}")
                    if first:
                        steps = ", ".join(f"{s.name} {s.duration_ms:.0f}" for s in
                                          validation.steps)
                        print(f"(first validation of the process: {total:.0f} ms: {steps})")
                        first = False
                        continue
                    for step in validation.steps:
                        times[step.name].append(step.duration_ms)
                    times["total"].append(total)
                    bare.append(bare_run(policy))
                if not bare:
                    continue
                print(f"{template:<18} " + " ".join(
                    f"{statistics.median(times[s]):>9.1f}" for s in (*STEPS, "total"))
                      + f" {statistics.median(bare):>9.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
