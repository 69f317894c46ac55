"""The bubblewrap command line of the namespace level: what the bot's world is made of.

The worker is root and bwrap runs without a user namespace, so the launcher starts as a real
root with only CAP_SETUID, CAP_SETGID and CAP_CHOWN, and drops to the run's own uid itself.
The sandbox gets new pid, network (unless granted), IPC, UTS and cgroup namespaces and a root
made of: the host's ``/usr`` read-only (``/bin``, ``/lib``... through it), the interpreter's
installation read-only with its package folders masked (only the standard library imports),
the staged launcher and runner at ``/run/codex32``, a generated ``/etc``, a fresh ``/proc``
and ``/dev``, and ``/tmp``: a size-capped tmpfs, the working directory. The arguments travel
through a pipe (``--args FD``) and bwrap starts as ``bwrap``, so ``/proc/1/cmdline`` (bwrap's
reaper) shows only neutral paths. The reaper stays root: when the worker dies, bwrap's
parent-death signal reaches it (a signal to the bot's uid would need CAP_KILL, which bwrap has
dropped), and with pid 1 gone the kernel kills the whole namespace.
"""

from __future__ import annotations

import os

from codex32.execution.sandbox.interpreter import Interpreter

CODE_MOUNT = "/run/codex32"
ENVIRONMENT_MOUNT = "/opt/codex32"  # environment N (requirements, test tools) at /opt/codex32/N
# Read-only extras for bots that were granted the network (name resolution, CA certificates).
NETWORK_FILES = ("/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/ssl",
                 "/etc/ca-certificates", "/etc/pki")
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN")


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _parents(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b"]``."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:index]) for index in range(1, len(parts) + 1)]


def _top_level() -> list[str]:
    """``/bin``, ``/lib``...: symlinks into /usr on merged-/usr hosts, else bound read-only."""
    argv: list[str] = []
    for path in TOP_LEVEL:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    return argv


def environment_paths(count: int) -> list[str]:
    """Where a run's environments are mounted, in order (what its ``sys.path`` gets)."""
    return [f"{ENVIRONMENT_MOUNT}/{index}" for index in range(count)]


def sandbox_args(facts: Interpreter, code_dir: str, *, network: bool, workdir_bytes: int,
                 seccomp_fd: int, info_fd: int | None,
                 environments: tuple[str, ...] = ()) -> list[str]:
    """bwrap's options for one run (without the command); ``environments`` are host folders
    bound read-only at :func:`environment_paths`."""
    argv = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for capability in CAPABILITIES:
        argv += ["--cap-add", capability]
    if not network:
        argv.append("--unshare-net")
    argv += ["--ro-bind", "/usr", "/usr", *_top_level()]
    if not _under(facts.prefix, "/usr"):
        # Bound once: a prefix under /usr is already there (binding it again would clash).
        # Its parents are made traversable (bwrap would copy /root's 0700).
        for parent in _parents(facts.prefix):
            argv += ["--perms", "0755", "--dir", parent]
        argv += ["--ro-bind", facts.prefix, facts.prefix]
    for folder in facts.hidden:
        if _under(folder, "/usr") or _under(folder, facts.prefix):
            argv += ["--perms", "0555", "--tmpfs", folder]
    argv += ["--ro-bind", code_dir, CODE_MOUNT, "--dir", "/etc"]
    if environments:
        argv += ["--perms", "0755", "--dir", ENVIRONMENT_MOUNT]
        for host, inside in zip(environments, environment_paths(len(environments)), strict=True):
            argv += ["--ro-bind", host, inside]
    if os.path.exists("/etc/localtime"):
        argv += ["--ro-bind", "/etc/localtime", "/etc/localtime"]
    if network:
        for path in NETWORK_FILES:
            argv += ["--ro-bind-try", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(workdir_bytes),
             "--perms", "0700", "--tmpfs", "/tmp",
             "--chdir", "/tmp", "--seccomp", str(seccomp_fd)]
    if info_fd is not None:  # where bwrap tells the host pid of the run's first process
        argv += ["--info-fd", str(info_fd)]
    return argv


def encode_args(argv: list[str]) -> bytes:
    """``argv`` as ``--args FD`` reads it: each argument NUL-terminated."""
    return b"".join(arg.encode() + b"\0" for arg in argv)
