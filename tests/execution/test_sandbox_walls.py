"""The namespace level's walls, attacked from inside a real bot: the host's files and sockets,
the project's path, site-packages, refused syscalls, per-run identities, processes and memory.

These need root, bubblewrap, libseccomp and (for some) writable cgroups; they skip with the
reason elsewhere and run on the project's test machines.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from codex32.execution import sandbox
from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from codex32.plugins.interfaces import ExecutionOutcome
from tests.execution.sandbox_support import make_request, parent_of, poll_until, processes_of

PROJECT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def executor() -> SubprocessExecutor:
    """The default executor on a host whose policy is the namespace level."""
    found = sandbox.availability(sandbox.SandboxPolicy())
    if not (found.ok and found.level == "namespace"):
        pytest.skip(f"needs the namespace level (root, bubblewrap, libseccomp): {found.detail}")
    return SubprocessExecutor({"workdir_mb": 256})


@pytest.fixture()
def cgroups(executor) -> None:
    if not sandbox.availability(sandbox.SandboxPolicy()).cgroups:
        pytest.skip("this host gives runs no cgroup (no writable pids and memory controllers)")


def run(executor: SubprocessExecutor, code: str, **limits: Any) -> ExecutionOutcome:
    request = make_request(code, **limits)
    outcome = executor.run(request, threading.Event())
    assert processes_of(request.execution_id) == [], "the run left processes behind"
    return outcome


def test_host_files_and_the_database_socket_do_not_exist_for_a_bot(executor, database):
    socket_dir = make_url(database.urls.runtime).query.get("host") or "/run/postgresql"
    paths = [PROJECT, socket_dir, "/run/postgresql", "/var/run", "/home", "/root/.bashrc",
             "/etc/shadow", "/etc/passwd-", "/sys/fs/cgroup"]
    code = ("import os\n\ndef main(event, context):\n"
            "    return {p: os.path.exists(p) for p in event['paths']}\n")
    outcome = executor.run(make_request(code, event={"paths": paths}), threading.Event())
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == dict.fromkeys(paths, False)


def test_shadow_is_unreadable_whatever_the_bot_tries(executor):
    code = ("import os\n\ndef main(event, context):\n    found = []\n"
            "    for path in ('/etc/shadow', '/proc/1/root/etc/shadow'):\n        try:\n"
            "            found.append(open(path).read()[:10])\n"
            "        except OSError as exc:\n            found.append(type(exc).__name__)\n"
            "    return [found, os.getgroups()]\n")
    outcome = run(executor, code)
    found, groups = outcome.result
    assert all(item.endswith("Error") for item in found), found
    assert groups == []


def test_no_host_project_path_shows_in_cmdline_or_mountinfo(executor):
    code = ("import sys\n\ndef main(event, context):\n"
            "    return [open('/proc/1/cmdline').read(), open('/proc/self/mountinfo').read(),"
            " open('/proc/self/cmdline').read(), sys.path]\n")
    outcome = run(executor, code)
    assert outcome.status == "succeeded", outcome.error
    for text in outcome.result:
        assert PROJECT not in str(text)
        assert "/work" not in str(text) and ".venv" not in str(text)


@pytest.mark.parametrize("module", ["pytest", "flask", "sqlalchemy", "codex32"])
def test_only_the_standard_library_imports_even_through_site(executor, module):
    code = (f"import site, sys\n\ndef main(event, context):\n"
            f"    site.main()\n    for folder in event['folders']:\n"
            f"        sys.path.append(folder)\n"
            f"    try:\n        import {module}\n    except ImportError:\n"
            f"        return 'refused'\n    return 'imported'\n")
    folders = [path for path in sys_paths() if "packages" in path]
    outcome = executor.run(make_request(code, event={"folders": folders}), threading.Event())
    assert outcome.result == "refused", outcome


def sys_paths() -> list[str]:
    import sys

    return [*sys.path, os.path.join(PROJECT, "platform")]


SYSCALLS = """\
import ctypes, errno, os

NUMBERS = {"keyctl": 250, "add_key": 248, "request_key": 249, "io_uring_setup": 425,
           "bpf": 321, "userfaultfd": 323, "unshare": 272, "perf_event_open": 298}


def main(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    found = {}
    for name, number in NUMBERS.items():
        ctypes.set_errno(0)
        status = libc.syscall(number, 0, 0, 0, 0, 0)
        found[name] = errno.errorcode.get(ctypes.get_errno(), "OK") if status < 0 else "OK"
    return found
"""


def test_keyrings_io_uring_and_other_kernel_interfaces_are_refused(executor):
    if os.uname().machine != "x86_64":
        pytest.skip("the syscall numbers below are x86_64's")
    outcome = run(executor, SYSCALLS)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {name: "EPERM" for name in outcome.result}


def test_a_bot_can_still_use_threads_and_subprocesses(executor):
    code = ("import subprocess, sys, threading\n\ndef main(event, context):\n"
            "    box = []\n    t = threading.Thread(target=box.append, args=(1,))\n"
            "    t.start()\n    t.join()\n"
            "    out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'],"
            " capture_output=True, text=True).stdout\n    return [box, out]\n")
    assert run(executor, code).result == [[1], "42\n"]


HOLD = """\
import os, time

def main(event, context):
    print(os.getuid(), flush=True)
    time.sleep(event.get("seconds", 2))
    return os.getuid()
"""


def test_concurrent_runs_get_distinct_uids(executor):
    requests = [make_request(HOLD, event={"seconds": 1}) for _ in range(3)]
    outcomes: dict[int, ExecutionOutcome] = {}
    threads = [threading.Thread(target=lambda n=n: outcomes.__setitem__(
        n, executor.run(requests[n], threading.Event()))) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    uids = [outcome.result for outcome in outcomes.values()]
    assert len(uids) == 3 and len(set(uids)) == 3, outcomes
    low, high = sandbox.SandboxPolicy().uid_range
    assert all(low <= uid <= high for uid in uids)


HOARDER = """\
import os, time

def main(event, context):
    children = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            children += 1
    except OSError:
        pass
    print("holding", children, flush=True)
    time.sleep(60)
"""


def test_a_bot_holding_its_processes_does_not_stop_another_from_starting_a_thread(
        executor, cgroups):
    hoarder = make_request(HOARDER, max_processes=16, timeout_seconds=20)
    cancel = threading.Event()
    held: list[ExecutionOutcome] = []
    thread = threading.Thread(target=lambda: held.append(executor.run(hoarder, cancel)))
    thread.start()
    try:
        assert poll_until(lambda: len(processes_of(hoarder.execution_id)) >= 12, timeout=10)
        code = ("import threading\n\ndef main(event, context):\n    t = threading.Thread("
                "target=print, args=('thread ran',))\n    t.start()\n    t.join()\n"
                "    return 'ok'\n")
        other = run(executor, code, max_processes=16)
        assert other.status == "succeeded" and other.result == "ok", other
    finally:
        cancel.set()
        thread.join(timeout=10)
    assert held[0].status == "cancelled"


def test_files_in_the_working_directory_count_against_memory(executor, cgroups):
    code = ("def main(event, context):\n    written = 0\n    try:\n"
            "        with open('/tmp/fill', 'wb') as handle:\n"
            "            for _ in range(160):\n"
            "                handle.write(b'x' * 1024 * 1024)\n                written += 1\n"
            "    except OSError as exc:\n        return [written, exc.strerror]\n"
            "    return [written, None]\n")
    outcome = run(executor, code, memory_mb=64, max_file_bytes=512 * 1024 * 1024)
    # Killed by the run's memory limit, or refused: never 160 MiB of RAM for a 64 MiB run.
    assert outcome.status == "failed" or outcome.result[0] < 64, outcome
    assert outcome.peak_memory_bytes <= 66 * 1024 * 1024


def test_a_timed_out_runs_peak_memory_is_the_bots_own(executor, cgroups):
    ballast = bytearray(300 * 1024 * 1024)  # the worker is large; the bot's figure must not be
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = ("import time\n\ndef main(event, context):\n"
            "    keep = bytearray(40 * 1024 * 1024)\n    keep[::4096] = b'y' * len(keep[::4096])\n"
            "    print('allocated', flush=True)\n    time.sleep(60)\n")
    outcome = run(executor, code, timeout_seconds=1.5, memory_mb=256)
    del ballast
    assert outcome.status == "timed_out"
    assert 40 * 1024 * 1024 <= outcome.peak_memory_bytes < 120 * 1024 * 1024


def test_an_interpreter_installed_under_usr_runs_at_the_namespace_level(executor):
    python = "/usr/bin/python3"
    if not os.path.exists(python) or sandbox.interpreter_problem(python):
        pytest.skip(f"no root-owned {python} here")
    policy = sandbox.SandboxPolicy(python=python)
    assert sandbox.availability(policy).ok, sandbox.availability(policy).detail
    code = ("import os, sys\n\ndef main(event, context):\n"
            "    return [sys.prefix, os.getpid(), os.path.exists('/etc/shadow')]\n")
    outcome = sandbox.run_sandboxed(make_request(code), None, policy)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == ["/usr", 2, False]  # pid 2: after bubblewrap's reaper


def test_every_process_of_a_run_is_in_its_cgroup(executor, cgroups):
    code = ("import os, time\n\ndef main(event, context):\n    if os.fork() == 0:\n"
            "        time.sleep(60)\n    print('forked', flush=True)\n    time.sleep(60)\n")
    request = make_request(code, timeout_seconds=30)
    cancel = threading.Event()
    thread = threading.Thread(target=executor.run, args=(request, cancel))
    thread.start()
    try:
        inside = poll_until(lambda: [pid for pid in processes_of(request.execution_id)
                                     if parent_of(pid) != os.getpid()] if len(
            processes_of(request.execution_id)) >= 4 else [], timeout=10)
        assert len(inside) >= 3  # bwrap's reaper, the bot, the bot's child
        for pid in inside:
            with open(f"/proc/{pid}/cgroup") as handle:
                groups = handle.read()
            assert groups.count(f"/codex32/{request.execution_id}\n") >= 2, (pid, groups)
    finally:
        cancel.set()
        thread.join(timeout=10)


def test_a_run_that_cannot_join_its_cgroup_never_runs_the_bot(executor, cgroups, monkeypatch):
    from codex32.execution.sandbox import cgroups as run_groups

    def refuse(self, pid: int) -> None:
        raise OSError("cgroup.procs refused the move")

    monkeypatch.setattr(run_groups.RunGroup, "add", refuse)
    outcome = run(executor, "def main(event, context):\n    print('ran')\n    return 'ran'\n")
    assert outcome.status == "failed" and outcome.error["type"] == "SandboxError"
    assert outcome.result is None and "ran" not in outcome.logs


def test_destroy_kills_a_process_that_joins_between_its_kill_and_its_rmdir(cgroups):
    """A lost run's recovery (``kill_run``) can meet the run's own supervisor moving the
    sandbox's first process in: the group must not be left behind with a live bot in it."""
    import subprocess
    import sys

    from codex32.execution.sandbox import cgroups as run_groups
    from codex32.execution.sandbox.launch import cgroup_layout

    # Named per process: test runs at once on one host share the parent cgroup, and create()
    # kills a leftover of the same name.
    group = run_groups.RunGroup.create(cgroup_layout(), f"race-join-after-kill-{os.getpid()}",
                                       64, 256)
    late = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    kill = run_groups.RunGroup.kill
    joined = []

    def kill_then_join(self, spare=None):
        kill(self, spare)
        if not joined:  # the supervisor's move arrives just after the first sweep
            joined.append(late.pid)
            self.add(late.pid)

    try:
        run_groups.RunGroup.kill = kill_then_join
        group.destroy()
        run_groups.RunGroup.kill = kill
        assert joined and late.wait(timeout=5) == -9, "the late process outlived destroy()"
        assert not any(os.path.isdir(path) for path in group.paths.values())
    finally:
        run_groups.RunGroup.kill = kill
        late.kill()
        group.destroy()
