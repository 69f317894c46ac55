"""A cgroup per run, where the host allows one: the run's process count, memory and kill switch.

Runs get ``<this process's cgroup>/codex32/<run tag>`` in the ``pids`` and ``memory``
controllers (cgroup v1) or in the unified hierarchy (v2), whichever this host lets us write.
``pids.max`` is the run's ``max_processes`` (threads included) and the memory limit its
``memory_mb``, which also counts the pages of its tmpfs working directory (the kernel charges
tmpfs pages to the writer's cgroup). Killing a run kills every process in its cgroup; nothing
started inside can leave it. Nested under our own cgroup, a run never escapes the limits the
host put on the worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"
PARENT = "codex32"
KILL_SECONDS = 2.0


@dataclass(frozen=True)
class Layout:
    """Where run cgroups go on this host: one directory per controller (one for v2)."""

    version: int
    parents: dict[str, str]  # controller ("pids", "memory", or "unified") -> parent directory


def _own_paths() -> dict[str, str]:
    """This process's cgroup per v1 controller, and under ``""`` its v2 cgroup."""
    paths = {}
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _writable_parent(base: str) -> str | None:
    parent = os.path.join(base, PARENT)
    try:
        os.makedirs(parent, exist_ok=True)
        probe = os.path.join(parent, f"probe-{os.getpid()}")
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError:
        return None
    return parent


def detect() -> Layout | None:
    """The cgroup layout runs can use here, or None (no cgroups: rlimits only)."""
    try:
        own = _own_paths()
    except OSError:
        return None
    if os.path.exists(f"{ROOT}/cgroup.controllers"):  # v2 only
        parent = _writable_parent(ROOT + own.get("", "/"))
        if parent is None:
            return None
        try:
            with open(f"{parent}/cgroup.subtree_control", "w") as handle:
                handle.write("+pids +memory")
        except OSError:
            return None
        return Layout(2, {"unified": parent})
    parents: dict[str, str] = {}
    for controller in ("pids", "memory"):
        base = f"{ROOT}/{controller}"
        if not os.path.isdir(base) or controller not in own:
            return None
        parent = _writable_parent(base + own[controller])
        if parent is None:
            return None
        parents[controller] = parent
    # CPU accounting, where it is a controller of its own: bwrap reports its reaper's exit
    # before reaping it, so wait4 alone can miss a run's CPU time.
    accounting = f"{ROOT}/cpuacct"
    if os.path.isdir(accounting) and "cpuacct" in own:
        parent = _writable_parent(accounting + own["cpuacct"])
        if parent is not None:
            parents["cpuacct"] = parent
    return Layout(1, parents)


class RunGroup:
    """The cgroup(s) of one run: created with its limits, joined, killed, removed."""

    def __init__(self, layout: Layout, tag: str) -> None:
        self.layout = layout
        self.paths = {name: os.path.join(parent, tag) for name, parent in layout.parents.items()}

    @classmethod
    def create(cls, layout: Layout, tag: str, max_processes: int, memory_mb: int) -> RunGroup:
        """A fresh cgroup named ``tag`` (a leftover of the same name is killed first)."""
        group = cls(layout, tag)
        group.destroy()
        memory = str(memory_mb * 1024 * 1024)
        for path in group.paths.values():
            os.mkdir(path, 0o755)
        if layout.version == 2:
            group._write("unified", "pids.max", str(max_processes))
            group._write("unified", "memory.max", memory)
            with contextlib.suppress(OSError):
                group._write("unified", "memory.swap.max", "0")
        else:
            group._write("pids", "pids.max", str(max_processes))
            group._write("memory", "memory.limit_in_bytes", memory)
            with contextlib.suppress(OSError):  # no swap accounting: nothing to bound there
                group._write("memory", "memory.memsw.limit_in_bytes", memory)
        return group

    def _write(self, controller: str, name: str, value: str) -> None:
        with open(os.path.join(self.paths[controller], name), "w") as handle:
            handle.write(value)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (before it runs any bot code) into the run's cgroup."""
        for controller in self.paths:
            self._write(controller, "cgroup.procs", str(pid))

    def peak_memory_bytes(self) -> int | None:
        """The run's memory high-water mark, working directory included (None when unknown)."""
        controller, name = (("unified", "memory.peak") if self.layout.version == 2
                            else ("memory", "memory.max_usage_in_bytes"))
        try:
            with open(os.path.join(self.paths[controller], name)) as handle:
                return int(handle.read())
        except (OSError, ValueError):
            return None

    def cpu_seconds(self) -> float | None:
        """CPU time used by the run's processes so far (None when this host does not count)."""
        try:
            if self.layout.version == 2:
                with open(os.path.join(self.paths["unified"], "cpu.stat")) as handle:
                    fields = dict(line.split() for line in handle if line.strip())
                return int(fields["usage_usec"]) / 1e6
            if "cpuacct" not in self.paths:
                return None
            with open(os.path.join(self.paths["cpuacct"], "cpuacct.usage")) as handle:
                return int(handle.read()) / 1e9
        except (OSError, ValueError, KeyError):
            return None

    def pids(self) -> list[int]:
        """The processes in the run's cgroup now."""
        found: set[int] = set()
        for path in self.paths.values():
            with (contextlib.suppress(OSError, ValueError),
                  open(os.path.join(path, "cgroup.procs")) as handle):
                found.update(int(word) for word in handle.read().split())
        return sorted(found)

    def kill(self, spare: int | None = None) -> None:
        """SIGKILL every process of the run (but ``spare``), until none is left or a few
        seconds passed. Sparing bwrap's reaper lets it reap the bot and report its CPU time."""
        if self.layout.version == 2 and spare is None:
            with contextlib.suppress(OSError):
                self._write("unified", "cgroup.kill", "1")
        deadline = time.monotonic() + KILL_SECONDS
        while ((pids := [pid for pid in self.pids() if pid != spare])
               and time.monotonic() < deadline):
            for pid in pids:  # pids.max bounds how many a bot can fork meanwhile
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001)

    def destroy(self) -> None:
        """Kill what is left and remove the cgroup directories (missing ones are fine).

        A process can still be moved in after a sweep (a run's supervisor joining its first
        process while a recovery destroys the group): a busy directory means sweep again.
        """
        deadline = time.monotonic() + KILL_SECONDS
        self.kill()
        for path in self.paths.values():
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY: a late joiner, or killed processes not reaped yet
                    if time.monotonic() > deadline:
                        break
                    self.kill()
                    time.sleep(0.001)
