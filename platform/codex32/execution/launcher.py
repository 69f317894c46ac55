"""The first code in a bot's process: lock the process down, then hand over to the runner.

Started by :mod:`codex32.execution.sandbox` as ``python -I -S -B -u launcher RESULT_FD RUN_ID``
(inside bubblewrap at the ``namespace`` level, from the staged bytecode at ``/run/codex32``),
with the run's payload (``marshal``) on stdin and, when the run may call platform services,
its end of the run's channel (:mod:`codex32.execution.channel_client`), named in the
payload. bubblewrap has already built the bot's world
(mounts, namespaces, seccomp filter, cgroup). In order the launcher: reads the payload, writes
``/etc/passwd``, ``group`` and ``hosts`` and hands ``/tmp`` to the run's uid (``namespace``
only), writes ``bot.py`` into the working directory, applies the rlimits, drops to the run's
uid/gid with no groups, re-arms PR_SET_PDEATHSIG (the uid change clears it) and sets
``no_new_privs`` (``namespace`` and ``user``), and runs the runner in this same interpreter (a
second interpreter start would double the cost of a run).

It must not import codex32, site-packages or any module it can avoid: it runs on every run,
and each import is paid every time. Hence ``posix`` rather than ``os`` (under ``-S`` nothing
has imported ``os``, which costs ~1 ms, an eighth of a bare interpreter start), and ``prctl``
through ``_ctypes`` directly (``import ctypes`` costs half an interpreter start).
"""

import _thread
import marshal
import posix
import resource
import sys

SANDBOX_FAILED = 71  # exit status when the launcher could not set the sandbox up
PYC_HEADER_BYTES = 16  # magic, flags and source stamp in front of a .pyc's code (PEP 552)

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
SIGKILL = 9


class SandboxError(Exception):
    """The sandbox could not be set up; the bot never ran."""


class _Libc:
    """``prctl(2)`` from the C library, raising OSError with errno."""

    def __init__(self) -> None:
        # Imported only when prctl is needed: each import is paid on every bot start.
        import _ctypes

        class CInt(_ctypes._SimpleCData):
            _type_ = "i"

        class CULong(_ctypes._SimpleCData):
            _type_ = "L"

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = CInt

        class Library:  # what CFuncPtr looks symbols up in: the process's own C library
            # dlopen(None) is the process itself (typeshed wants a path; C accepts NULL).
            _handle = _ctypes.dlopen(None, 0)  # type: ignore[arg-type]

        # CFuncPtr looks the symbol up in any object with a _handle (typeshed wants a CDLL).
        self._prctl = Function(("prctl", Library))  # type: ignore[arg-type]
        self._prctl.argtypes = (CInt, CULong, CULong, CULong, CULong)
        self._errno = _ctypes.get_errno

    def prctl(self, option: int, value: int, what: str) -> None:
        if self._prctl(option, value, 0, 0, 0) != 0:
            code = self._errno()
            raise OSError(code, f"{what}: {posix.strerror(code)}")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := posix.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _make_etc(uid: int, gid: int) -> None:
    """The sandbox's /etc (a fresh, empty folder): the bot's user and group, localhost."""
    _write("/etc/passwd", f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                          f"bot:x:{uid}:{gid}:bot:/tmp:/usr/sbin/nologin\n")
    _write("/etc/group", f"root:x:0:\nbot:x:{gid}:\n")
    _write("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")
    posix.environ.pop(b"PWD", None)  # bwrap's --chdir sets it; the bot gets a known environment
    posix.unsetenv("PWD")
    posix.rmdir("/dev/shm")  # shared memory lives in the working directory, within its cap
    posix.symlink("/tmp", "/dev/shm")


def _apply_limits(limits: dict) -> None:
    """Set each (soft, hard) limit, never above a hard limit already in place."""
    for name, (soft, hard) in limits.items():
        kind = getattr(resource, name)
        ceiling = resource.getrlimit(kind)[1]
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(kind, (soft, hard))


def _drop_privileges(libc: _Libc, uid: int, gid: int) -> None:
    posix.setgroups([])
    posix.setresgid(gid, gid, gid)
    posix.setresuid(uid, uid, uid)
    if posix.getuid() != uid or posix.geteuid() != uid:
        raise SandboxError("could not drop privileges")
    # The uid change cleared the parent-death signal: without it a bot at the user level
    # would outlive a worker killed with SIGKILL (in bwrap, its reaper's death ends the run).
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL, "prctl(PDEATHSIG)")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(NO_NEW_PRIVS)")


def _prepare(spec: dict) -> None:
    """Everything between the interpreter start and the bot's first line."""
    posix.dup2(1, 2)  # the bot's stderr joins its stdout in the logs
    null = posix.open("/dev/null", posix.O_RDONLY)
    posix.dup2(null, 0)
    posix.close(null)
    mode = spec["mode"]
    libc = _Libc() if mode in ("namespace", "user") else None
    if mode == "namespace":
        _make_etc(spec["uid"], spec["gid"])
        # The bot's subprocesses need a path that exists inside the sandbox too.
        sys.executable = spec["executable"]
    with open("bot.py", "w", encoding="utf-8") as handle:
        handle.write(spec["code"])
    if mode == "namespace":
        posix.chown("/tmp", spec["uid"], spec["gid"])  # the working directory is the bot's
    if spec["paths"]:  # the platform's read-only environments: requirements, test tools
        sys.path.extend(spec["paths"])
        posix.putenv(b"PYTHONPATH", ":".join(spec["paths"]).encode())
    _apply_limits(spec["limits"])
    if libc is not None:
        _drop_privileges(libc, spec["uid"], spec["gid"])


def _channel_client(folder: str):
    """A loader of the channel client, whose code is read now (the run's uid may not read the
    staged folder) and run on its first use: most runs never call the platform."""
    staged = __file__.endswith(".pyc")
    path = f"{folder}/channel_client.{'pyc' if staged else 'py'}"
    with open(path, "rb") as handle:
        data = handle.read()

    def load():
        module = type(sys)("channel_client")
        exec(marshal.loads(data[PYC_HEADER_BYTES:]) if staged else
             compile(data, path, "exec", dont_inherit=True), module.__dict__)
        return module

    return load


def _context_llm(load, fd: int | None, max_message_bytes: int, max_concurrent: int):
    """What gives ``context.llm``: one client for the run, however many threads ask first."""
    lock = _thread.allocate_lock()
    made: list = []

    def make_llm():
        with lock:
            if not made:
                client = load()
                made.append(client.LLM(client.Channel(fd, max_message_bytes, max_concurrent)))
        return made[0]

    return make_llm


def main(argv: list[str]) -> None:
    """Set the sandbox up from the payload on stdin, then run the bot (never returns)."""
    result_fd = int(argv[1])
    # The runner is imported first, and the channel client read, while root can still read
    # every file (before the uid drop): runner.py, or the staged runner.pyc beside the staged
    # launcher.pyc.
    folder = __file__.rpartition("/")[0]
    sys.path.insert(0, folder)
    import runner

    del sys.path[0]
    try:
        load_client = _channel_client(folder)
        spec = marshal.loads(_read_all(0))
        _prepare(spec)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        runner.write_record(result_fd, runner.error_record("SandboxError", message))
        posix._exit(SANDBOX_FAILED)
    channel = spec["channel"]
    for fd in (result_fd, channel):  # the bot's own subprocesses do not get them
        if fd is not None:
            posix.set_inheritable(fd, False)
    sys.argv = ["bot.py"]
    make_llm = _context_llm(load_client, channel, spec["max_message_bytes"],
                            spec["max_concurrent_calls"])
    context = runner.BotContext(spec["execution_id"], spec["bot_id"], spec["workspace_id"],
                                spec["secrets"], make_llm)
    event = spec["event"]
    max_result_bytes = spec["max_result_bytes"]
    del spec  # the payload holds the secrets: keep only the context's copy
    runner.run(event, context, result_fd, max_result_bytes)


if __name__ == "__main__":
    main(sys.argv)
