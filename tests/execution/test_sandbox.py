"""Attacks on the subprocess sandbox, each run as a real bot in a real process: running away,
looking around, being stopped, leaving something running. The bot contract (what a run
returns and logs) is in test_sandbox_contract.py.

Every run goes through ``SubprocessExecutor.run`` with the host's strongest isolation; the
``run_bot`` fixture also checks that no process of the run survives it. Tests that only the
namespace level can pass (no network, private filesystem, private /proc) skip elsewhere.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from codex32.execution import sandbox
from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from tests.execution.sandbox_support import (
    RunBot,
    make_request,
    poll_until,
    processes_of,
    run_checked,
    uid_of,
)

PROJECT = Path(__file__).resolve().parents[2]
ALLOWED_ENVIRONMENT = {"PATH", "LANG", "LC_ALL", "PYTHONIOENCODING", "HOME", "TMPDIR"}


@pytest.fixture(scope="module")
def executor() -> SubprocessExecutor:
    """The default executor, as a workspace with no configuration gets it."""
    return SubprocessExecutor()


@pytest.fixture(scope="module")
def isolation(executor: SubprocessExecutor) -> str:
    found = sandbox.availability(executor.policy)
    return found.level if found.ok else "none"


def run_uid(uid: int | None) -> bool:
    """Whether ``uid`` is one of the platform's per-run identities."""
    low, high = sandbox.SandboxPolicy().uid_range
    return uid is not None and low <= uid <= high


@pytest.fixture()
def namespace(isolation: str) -> None:
    """Skip unless this host gives the namespace level (root, bubblewrap, libseccomp)."""
    if isolation != "namespace":
        pytest.skip(f"needs the namespace isolation level; this host offers {isolation!r}")


@pytest.fixture()
def run_bot(executor: SubprocessExecutor) -> RunBot:
    """Run ``code`` once; checks afterwards that none of the run's processes are left."""
    return functools.partial(run_checked, executor)


# --- running away --------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["while True:\n        pass", "time.sleep(3600)"],
                         ids=["infinite loop", "sleep forever"])
def test_a_bot_that_never_returns_is_stopped_by_the_wall_clock(run_bot: RunBot, body: str):
    started = time.monotonic()
    outcome = run_bot(f"import time\n\ndef main(event, context):\n    {body}\n",
                      timeout_seconds=1)
    assert outcome.status == "timed_out"
    assert outcome.error["type"] == "WallTimeExceeded"
    assert time.monotonic() - started < 3


def test_a_timed_out_bot_is_still_billed_for_its_cpu(run_bot: RunBot):
    # It burns half a CPU second, then sleeps: a busy host (parallel tests) may give it less
    # than a core, and the wall clock is long enough for the half second all the same.
    code = ("import time\n\ndef main(event, context):\n"
            "    while time.process_time() < 0.5:\n        pass\n    time.sleep(3600)\n")
    outcome = run_bot(code, timeout_seconds=3)
    assert outcome.status == "timed_out"
    assert outcome.cpu_seconds > 0.3


def test_a_cpu_burner_is_stopped_by_its_cpu_limit(run_bot: RunBot):
    started = time.monotonic()
    outcome = run_bot("def main(event, context):\n    while True:\n        pass\n",
                      cpu_seconds=1, timeout_seconds=20)
    assert outcome.status == "timed_out"
    assert outcome.error["type"] == "CpuTimeExceeded"
    assert time.monotonic() - started < 6


def test_a_fork_bomb_is_contained_and_the_host_survives(run_bot: RunBot):
    code = "import os\n\ndef main(event, context):\n    while True:\n        os.fork()\n"
    outcome = run_bot(code, max_processes=16, timeout_seconds=5)
    assert outcome.status in ("failed", "timed_out")
    assert subprocess.run(["true"], timeout=5).returncode == 0  # we can still fork


@pytest.mark.parametrize("code", [
    "def main(event, context):\n    hoard = []\n    while True:\n"
    "        hoard.append(bytearray(8 * 1024 * 1024))\n",
    "def main(event, context):\n    return len(b'x' * (64 * 1024 ** 3))\n",
], ids=["growing", "one huge allocation"])
def test_a_memory_bomb_fails_with_memory_error(run_bot: RunBot, code: str):
    outcome = run_bot(code, memory_mb=128, timeout_seconds=10)
    assert outcome.status == "failed"
    assert outcome.error["type"] == "MemoryError"
    assert outcome.peak_memory_bytes < 160 * 1024 * 1024


def test_a_file_larger_than_the_limit_cannot_be_written(run_bot: RunBot):
    code = ("def main(event, context):\n    with open('big.bin', 'wb') as f:\n"
            "        for _ in range(64):\n            f.write(b'x' * 65536)\n")
    outcome = run_bot(code, max_file_bytes=1024 * 1024)
    assert outcome.status == "failed"
    assert outcome.error["type"] == "OSError"
    assert "File too large" in outcome.error["message"]


def test_filling_the_working_directory_stops_at_its_size_cap(namespace, executor, run_bot):
    code = ("def main(event, context):\n    written = 0\n    try:\n"
            "        for n in range(1000):\n            with open(f'f{n}', 'wb') as f:\n"
            "                f.write(b'x' * 1024 * 1024)\n            written += 1\n"
            "    except OSError as exc:\n        return [written, exc.strerror]\n")
    outcome = run_bot(code, max_file_bytes=2 * 1024 * 1024)
    written, reason = outcome.result
    assert reason == "No space left on device"
    assert written < executor.workdir_mb  # MiB: the cap held, far below the 1000 tried


def test_huge_output_is_truncated_with_a_marker_and_bounded_parent_memory(run_bot: RunBot):
    code = ("import sys\n\ndef main(event, context):\n    line = 'y' * 1023 + '\\n'\n"
            "    for _ in range(32 * 1024):\n        sys.stdout.write(line)\n    return 'done'\n")
    tracemalloc.start()
    try:
        outcome = run_bot(code, max_output_bytes=64 * 1024, timeout_seconds=20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome.status == "succeeded" and outcome.result == "done"
    assert outcome.logs_truncated
    dropped = 32 * 1024 * 1024 - 64 * 1024
    assert outcome.logs.endswith(f"[... output truncated: {dropped} bytes dropped]\n")
    assert len(outcome.logs.encode()) < 64 * 1024 + 100
    assert peak < 4 * 1024 * 1024  # 32 MiB went through; the parent kept about 64 KiB


# --- looking around ------------------------------------------------------------------------


def test_the_bot_sees_none_of_the_parents_environment(run_bot: RunBot, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner:hunter2@db/codex32")
    monkeypatch.setenv("SECRET", "s3cr3t-value")
    outcome = run_bot("import os\n\ndef main(event, context):\n    return dict(os.environ)\n")
    assert outcome.status == "succeeded"
    assert set(outcome.result) <= ALLOWED_ENVIRONMENT
    assert "hunter2" not in str(outcome.result) and "s3cr3t" not in str(outcome.result)


def test_the_bot_cannot_read_the_parents_proc_environ(namespace, run_bot: RunBot):
    code = ("import os\n\ndef main(event, context):\n    try:\n"
            "        open(f\"/proc/{event['pid']}/environ\", 'rb').read()\n"
            "    except OSError as exc:\n        return type(exc).__name__\n    return 'read'\n")
    outcome = run_bot(code, event={"pid": os.getpid()})
    assert outcome.status == "succeeded"
    assert outcome.result in ("FileNotFoundError", "PermissionError")


def test_the_bot_sees_only_its_own_processes(namespace, run_bot: RunBot):
    code = ("import os\n\ndef main(event, context):\n"
            "    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n")
    outcome = run_bot(code)
    assert outcome.status == "succeeded"
    assert outcome.result == [1, 2]  # bubblewrap's reaper, then the bot


CONNECT_TO_POSTGRES = """\
import socket

def main(event, context):
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError as exc:
        return type(exc).__name__
    return "connected"
"""


def _postgres_listens() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_bot_without_network_cannot_reach_the_local_database(namespace, run_bot: RunBot):
    if not _postgres_listens():
        pytest.skip("nothing listens on 127.0.0.1:5432 here, the attack proves nothing")
    outcome = run_bot(CONNECT_TO_POSTGRES, network=False)
    assert outcome.status == "succeeded"
    assert outcome.result != "connected"


def test_a_bot_granted_the_network_can_connect(namespace, run_bot: RunBot):
    if not _postgres_listens():
        pytest.skip("nothing listens on 127.0.0.1:5432 here")
    assert run_bot(CONNECT_TO_POSTGRES, network=True).result == "connected"


WRITE_ANYWHERE = """\
def main(event, context):
    results = {}
    for path in event["paths"]:
        try:
            with open(path, "w") as handle:
                handle.write("pwned")
            results[path] = "written"
        except OSError as exc:
            results[path] = type(exc).__name__
    return results
"""


def test_the_bot_can_write_nowhere_but_its_working_directory(namespace, run_bot: RunBot):
    tag = uuid.uuid4().hex
    outside = [str(PROJECT / f"escape-{tag}"), f"/root/escape-{tag}", f"/etc/escape-{tag}",
               f"/usr/escape-{tag}", f"/var/tmp/escape-{tag}", f"/escape-{tag}",
               f"/run/escape-{tag}", f"/dev/escape-{tag}"]
    inside = [f"/tmp/escape-{tag}", f"escape-{tag}", f"/dev/shm/escape-{tag}"]
    outcome = run_bot(WRITE_ANYWHERE, event={"paths": outside + inside})
    assert outcome.status == "succeeded"
    assert {path: outcome.result[path] for path in inside} == dict.fromkeys(inside, "written")
    assert all(outcome.result[path] != "written" for path in outside), outcome.result
    for path in [*outside, f"/tmp/escape-{tag}", f"/dev/shm/escape-{tag}"]:
        assert not os.path.exists(path), f"{path} appeared on the host"


def test_the_bot_cannot_read_host_files_or_sockets(namespace, run_bot: RunBot):
    code = ("import os\n\ndef main(event, context):\n"
            "    return {p: os.path.exists(p) for p in event['paths']}\n")
    home = [f"/root/{name}" for name in os.listdir("/root")
            if not sys.base_prefix.startswith(f"/root/{name}")]  # the interpreter may live there
    paths = [str(PROJECT / "pyproject.toml"), "/run/postgresql", "/etc/shadow", "/var/run",
             "/home", *home]
    outcome = run_bot(code, event={"paths": paths})
    assert outcome.result == dict.fromkeys(paths, False)


def test_the_bot_runs_as_an_unprivileged_user_without_new_privileges(namespace, run_bot):
    code = ("import os\n\ndef main(event, context):\n"
            "    status = open('/proc/self/status').read()\n"
            "    return [os.getuid(), os.getgid(), os.getgroups(),"
            " 'NoNewPrivs:\\t1' in status]\n")
    uid, gid, groups, no_new_privs = run_bot(code).result
    assert run_uid(uid) and gid == uid and groups == [] and no_new_privs


# --- stopping ------------------------------------------------------------------------------


def test_cancelling_a_run_stops_it_within_two_seconds_and_leaves_no_process(executor, isolation):
    request = make_request("import time\n\ndef main(event, context):\n    time.sleep(3600)\n",
                           timeout_seconds=60)
    cancel = threading.Event()
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(executor.run(request, cancel)))
    worker.start()

    def bot_is_running() -> bool:  # past the uid drop, i.e. in the bot's own code
        pids = processes_of(request.execution_id)
        return bool(pids) and (isolation not in ("namespace", "user")
                               or any(run_uid(uid_of(pid)) for pid in pids))

    assert poll_until(bot_is_running), "the bot never started"
    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 2
    assert outcomes[0].status == "cancelled"
    assert processes_of(request.execution_id) == []


def test_a_run_cancelled_before_it_starts_never_starts(executor):
    cancel = threading.Event()
    cancel.set()
    outcome = executor.run(make_request("def main(event, context):\n    return 1\n"), cancel)
    assert outcome.status == "cancelled"



# --- leaving something behind ------------------------------------------------------------


ESCAPE_IN_THE_BACKGROUND = """\
import os
import subprocess
import threading
import time

def main(event, context):
    threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon
    subprocess.Popen(["sleep", "3601"])
    if os.fork() == 0:
        os.setsid()  # out of the run's process group
        time.sleep(3600)
    return "returned"
"""


def test_what_a_bot_leaves_running_dies_with_its_run(namespace, run_bot: RunBot):
    started = time.monotonic()
    outcome = run_bot(ESCAPE_IN_THE_BACKGROUND, timeout_seconds=10)
    assert outcome.status == "succeeded" and outcome.result == "returned"
    assert time.monotonic() - started < 3  # neither the thread nor the children held it
    assert processes_of("sleep\x003601") == []
