"""Load with wrk and what a run measures: requests/s and latency (parsed from wrk), the RSS of
a server's workers, the CPU of the server, of PostgreSQL and of the rest of the machine, and
the medians and paired ratios over repeated runs (bench/api_bench.py).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from harness import REPO, BenchError, Server

BENCH = REPO / "bench"
WARMUP_SECONDS = 2


# --- wrk ----------------------------------------------------------------------------------


@dataclass
class Figures:
    """One measured run."""

    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    rss_mib: float
    cpu_ms: float
    db_cpu_ms: float | None
    other_cpus: float
    reference: Figures | None = None
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """Requests/s over the reference's: the median of same-round ratios when paired."""
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.rps / self.reference.rps if self.reference and self.reference.rps else None


class RssSampler:
    """Peak resident memory of each worker of a gunicorn master, sampled every 0.2 s."""

    def __init__(self, server: Server, interval: float = 0.2) -> None:
        self.server, self.interval = server, interval
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for worker in self.server.workers():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                rss = worker.memory_info().rss
                self.peaks[worker.pid] = max(self.peaks.get(worker.pid, 0), rss)

    @property
    def peak_mib(self) -> float:
        return max(self.peaks.values(), default=0) / (1024 * 1024)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (not idle, not waiting for I/O) since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(
        times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def _children_cpu_seconds() -> float:
    """CPU seconds of this process and the children it has waited for (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CpuMeter:
    """CPU used during a run: by a server's processes, by PostgreSQL, and by everything else.

    The server's CPU per request is what the code costs whatever else runs on the machine.
    "Other" is the machine's busy time minus the server, PostgreSQL, wrk and this process:
    CPU taken by anything outside the benchmark (a test suite, the kernel), i.e. noise.
    """

    def __init__(self, server: Server, db_pid: int | None) -> None:
        self.server, self.db_pid = server, db_pid
        self.server_seconds = 0.0
        self.db_seconds: float | None = None
        self.other_cpus = 0.0

    def _server_cpu(self) -> dict[int, float]:
        found = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            for process in (psutil.Process(self.server.process.pid), *self.server.workers()):
                with contextlib.suppress(psutil.Error):
                    found[process.pid] = _cpu_seconds(process)
        return found

    def _db_cpu(self) -> dict[int, float]:
        found: dict[int, float] = {}
        if self.db_pid is None:
            return found
        with contextlib.suppress(psutil.Error):
            postmaster = psutil.Process(self.db_pid)
            for process in (postmaster, *postmaster.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    found[process.pid] = _cpu_seconds(process)
        return found

    def __enter__(self) -> CpuMeter:
        self._started = time.monotonic()
        self._busy, self._mine = _busy_cpu_seconds(), _children_cpu_seconds()
        self._server, self._db = self._server_cpu(), self._db_cpu()
        return self

    def __exit__(self, *exc_info: object) -> None:
        elapsed = time.monotonic() - self._started
        busy = _busy_cpu_seconds() - self._busy
        mine = _children_cpu_seconds() - self._mine
        server, database = self._server_cpu(), self._db_cpu()
        self.server_seconds = sum(server.get(pid, used) - used
                                  for pid, used in self._server.items())
        db_seconds = sum(used - self._db.get(pid, 0.0) for pid, used in database.items())
        self.db_seconds = db_seconds if self.db_pid is not None else None
        other = busy - self.server_seconds - db_seconds - mine
        self.other_cpus = max(0.0, other / elapsed) if elapsed else 0.0


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(output: str, percent: int) -> float:
    found = re.search(rf"^\s*{percent}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    if not found:
        raise BenchError(f"no {percent}% latency in the wrk output:\n{output}")
    return float(found.group(1)) * UNITS_MS[found.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), request and error counts from ``wrk --latency``."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    if not rps or not total:
        raise BenchError(f"unexpected wrk output:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        output)
    if sockets:
        errors += sum(int(value) for value in sockets.groups())
    return {"rps": float(rps.group(1)), "p50": _latency_ms(output, 50),
            "p99": _latency_ms(output, 99), "requests": int(total.group(1)), "errors": errors}


def wrk(url: str, seconds: int, connections: int, token: str | None = None,
        script: Path | None = None, script_args: tuple[str, ...] = ()) -> str:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return done.stdout


@dataclass
class Target:
    """One endpoint of one server to measure."""

    label: str
    server: Server
    path: str
    token: str | None = None
    post: bool = False

    def run(self, args: argparse.Namespace, seconds: int) -> str:
        script = BENCH / "post_bots.lua" if self.post else None
        prefix = f"b{uuid.uuid4().hex[:10]}"  # bot names unique to this run
        return wrk(self.server.base + self.path, seconds, args.connections, self.token, script,
                   (prefix,) if self.post else ())


def measure(targets: list[Target], args: argparse.Namespace) -> list[list[Figures]]:
    """Warm each target up, then ``--repeat`` rounds of one measured run per target, in turn.

    Taking turns puts the runs being compared minutes apart at most, so a slow spell of the
    shared machine falls on both sides of a ratio. Returns each target's runs.
    """
    for target in targets:
        target.run(args, WARMUP_SECONDS)
    runs: list[list[Figures]] = [[] for _ in targets]
    for _ in range(args.repeat):
        for target, mine in zip(targets, runs, strict=True):
            mine.append(_measured_run(target, args))
    for target, mine in zip(targets, runs, strict=True):
        errors = sum(r.errors for r in mine)
        if errors:
            print(f"  ! {target.label}: {errors} of {sum(r.requests for r in mine)} requests "
                  f"failed (non-2xx or socket errors); see {target.server.log_path}", flush=True)
        print(f"  runs of {target.label}: " + ", ".join(
            f"{r.rps:.0f} req/s p50 {r.p50_ms:.1f} p99 {r.p99_ms:.1f} (other CPUs "
            f"{r.other_cpus:.2f})" for r in mine), flush=True)
    return runs


def median_of(runs: list[Figures], reference: list[Figures] | None = None) -> Figures:
    """One row of medians; against ``reference`` (taken in the same rounds), the ratio is the
    median of the rounds' ratios."""
    result = Figures(
        label=runs[0].label, rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        requests=sum(r.requests for r in runs), errors=sum(r.errors for r in runs),
        rss_mib=max(r.rss_mib for r in runs),
        cpu_ms=statistics.median(r.cpu_ms for r in runs),
        db_cpu_ms=None if runs[0].db_cpu_ms is None
        else statistics.median(r.db_cpu_ms or 0.0 for r in runs),
        other_cpus=statistics.median(r.other_cpus for r in runs))
    if reference is not None:
        result.reference = median_of(reference)
        result.paired_ratio = statistics.median(
            mine.rps / theirs.rps for mine, theirs in zip(runs, reference, strict=True))
    return result


def paired(runs: list[Figures], base: list[Figures], field: str) -> float:
    """The median over rounds of ``field`` of ``runs`` over the same round's ``base``."""
    return statistics.median(getattr(mine, field) / getattr(theirs, field)
                             for mine, theirs in zip(runs, base, strict=True))


def _measured_run(target: Target, args: argparse.Namespace) -> Figures:
    """One measured wrk run from a settled database, sampling the workers' RSS and CPU."""
    if args.settle is not None:
        args.settle()
    with CpuMeter(target.server, args.db_pid) as cpu, RssSampler(target.server) as sampler:
        output = target.run(args, args.duration)
    figures = parse_wrk(output)
    requests = max(1, int(figures["requests"]))
    return Figures(label=target.label, rps=figures["rps"], p50_ms=figures["p50"],
                   p99_ms=figures["p99"], requests=int(figures["requests"]),
                   errors=int(figures["errors"]), rss_mib=sampler.peak_mib,
                   cpu_ms=cpu.server_seconds * 1000 / requests,
                   db_cpu_ms=None if cpu.db_seconds is None
                   else cpu.db_seconds * 1000 / requests,
                   other_cpus=cpu.other_cpus)
