"""A stop that comes before honcho has recorded every process's start still stops them all.

honcho learns a process's pid from a message the process sends once started; a SIGINT or
SIGTERM handled before that message was read used to fail on the missing pid (KeyError in the
signal handler), and a process that reported its start after the stop was never signalled.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from codex32 import supervisor


def _children_of(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_a_stop_before_any_start_was_recorded_stops_every_process(tmp_path):
    script = tmp_path / "stop_first.py"
    script.write_text(
        "import sys\n"
        "from codex32 import supervisor\n"
        "manager = supervisor.manager_for(supervisor.ProcessSet(\n"
        "    commands={name: 'exec sleep 60' for name in ('web', 'worker', 'vectors')}, env={}))\n"
        "manager.terminate()  # the signal handler's call, before any start is recorded\n"
        "manager.loop()\n"
        "print('stopped', sorted(p['returncode'] for p in manager._processes.values()))\n")
    started = time.monotonic()
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        out, _ = run.communicate(timeout=20)
    finally:
        for child in _children_of(run.pid) if run.poll() is None else []:
            child.kill()
        run.kill()
    assert run.returncode == 0, out
    assert "stopped [-15, -15, -15]" in out, out
    assert time.monotonic() - started < 15  # stopped at once, not after a kill timeout


def test_the_manager_runs_the_commands_it_is_given():
    processes = supervisor.ProcessSet(commands={"one": "exec true"}, env={})
    manager = supervisor.manager_for(processes)
    manager.loop()
    assert manager.returncode == 0
