"""The sandbox bots run in: the platform's policy, the probe, and running one bot.

- :mod:`.policy`: how runs are launched (operator settings, never a tenant's);
- :mod:`.probe`: whether the host gives the required isolation (once per process);
- :mod:`.launch`: one run, start to outcome; :mod:`.supervisor` and :mod:`.outcome` its parts;
- :mod:`.bwrap`, :mod:`.seccomp`, :mod:`.cgroups`, :mod:`.identities`: the namespace level's
  walls: bubblewrap's mounts and namespaces, the syscall filter, a cgroup and a uid per run;
- :mod:`.interpreter`: facts about the bot interpreter and the staged launcher.

No Flask, no database here.
"""

from codex32.execution.sandbox.interpreter import interpreter_problem
from codex32.execution.sandbox.launch import kill_run, run_sandboxed
from codex32.execution.sandbox.policy import SandboxPolicy, isolation_rank
from codex32.execution.sandbox.probe import Availability, availability, status

__all__ = ["Availability", "SandboxPolicy", "availability", "interpreter_problem",
           "isolation_rank", "kill_run", "run_sandboxed", "status"]
