"""Benchmark: launch-to-result time of a trivial bot through SubprocessExecutor vs a bare start.

Prints median and p90 wall time (and the CPU time the child processes used) for N runs of a
trivial bot through ``SubprocessExecutor.run``, N more with platform services (the run's
channel open, as the worker runs bots, the bot making no call), and N bare
``python -I -S -c pass`` starts of the same interpreter, interleaved so that load from other
processes hits them alike, and the ratios; then the round trip of one ``context.llm.chat``
call through the channel to an echo handler (median of a bot's 50 calls). Usage:
``python bench/sandbox_bench.py [N]`` (default 30). Not a test: it asserts nothing and
touches nothing but temporary directories.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid

from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from codex32.plugins.interfaces import BotServices, ExecutionRequest

TRIVIAL_BOT = "def main(event, context):\n    return {'ok': True}\n"
CALLING_BOT = """\
import time


def main(event, context):
    context.llm.chat("warm up")
    took = []
    for _ in range(50):
        started = time.perf_counter()
        context.llm.chat("ping")
        took.append(time.perf_counter() - started)
    return sorted(took)[len(took) // 2] * 1000
"""
SERVICES = BotServices(call=lambda method, params, timeout: {"text": "pong"}, max_calls=100)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main(runs: int = 30) -> None:
    executor = SubprocessExecutor()
    level = executor.isolation_level()  # the one-time probe stays out of the figures
    never = threading.Event()
    bare_argv = [executor.policy.python, "-I", "-S", "-c", "pass"]
    labels = {"sandbox": "SubprocessExecutor.run", "channel": "  with platform services",
              "bare": "bare python -I -S -c pass"}
    timings: dict[str, list[float]] = {name: [] for name in labels}
    cpu: dict[str, list[float]] = {name: [] for name in labels}
    for _ in range(runs):
        for name in labels:
            request = ExecutionRequest(execution_id=uuid.uuid4().hex, workspace_id="bench",
                                       bot_id="bench", code=TRIVIAL_BOT,
                                       services=SERVICES if name == "channel" else None)
            cpu_before, started = _children_cpu(), time.perf_counter()
            if name == "bare":
                subprocess.run(bare_argv, check=True)
            else:
                outcome = executor.run(request, never)
                if outcome.status != "succeeded":
                    raise SystemExit(f"trivial bot did not succeed: {outcome}")
            timings[name].append(time.perf_counter() - started)
            cpu[name].append(_children_cpu() - cpu_before)

    print(f"isolation level: {level}; interpreter: {executor.policy.python}; runs: {runs} each")
    print(f"{'':28}{'median ms':>10}{'p90 ms':>10}{'cpu ms':>10}")
    for name, label in labels.items():
        print(f"{label:28}{statistics.median(timings[name]) * 1000:10.2f}"
              f"{_p90(timings[name]) * 1000:10.2f}{statistics.median(cpu[name]) * 1000:10.2f}")
    ratio = statistics.median(timings["sandbox"]) / statistics.median(timings["bare"])
    p90_ratio = _p90(timings["sandbox"]) / _p90(timings["bare"])
    cpu_ratio = statistics.median(cpu["sandbox"]) / statistics.median(cpu["bare"])
    print(f"ratio sandbox/bare: median {ratio:.2f}x, p90 {p90_ratio:.2f}x, cpu {cpu_ratio:.2f}x")
    with_channel = statistics.median(timings["channel"]) / statistics.median(timings["sandbox"])
    print(f"ratio with/without platform services: median {with_channel:.2f}x")
    calling = executor.run(ExecutionRequest(execution_id=uuid.uuid4().hex, workspace_id="bench",
                                            bot_id="bench", code=CALLING_BOT,
                                            services=SERVICES), never)
    if calling.status != "succeeded":
        raise SystemExit(f"the calling bot did not succeed: {calling}")
    print(f"context.llm.chat round trip to an echo handler: median {calling.result:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
