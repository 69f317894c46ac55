"""The first code in a bot's process: lock the process down, then hand over to the runner.

Started by :mod:`codex32.execution.sandbox` as ``python -I -S -B -u launcher RESULT_FD RUN_ID``
(under ``unshare`` at the ``namespace`` level; from its cached bytecode when there is one),
with the run's payload (``marshal``) on stdin. In order it: reads the payload, builds a private
root and ``chroot``\\s into it (``namespace`` only), writes ``bot.py`` into the working
directory, applies the rlimits, drops to the bot's uid/gid with ``no_new_privs`` (``namespace``
and ``user``), and runs the runner in this same interpreter (a second interpreter start would
double the cost of a run).

It must not import codex32, site-packages or any module it can avoid: it runs on every run,
before any isolation exists, and each import is paid every time. Hence ``posix`` rather than
``os`` (under ``-S`` nothing has imported ``os``, which costs ~1 ms, an eighth of a bare
interpreter start), and ``mount``/``prctl`` through ``_ctypes`` directly (``import ctypes``
costs half an interpreter start).
"""

import marshal
import posix
import resource
import sys

SANDBOX_FAILED = 71  # exit status when the launcher could not set the sandbox up

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND = 32, 4096
PR_SET_NO_NEW_PRIVS = 38
S_IFMT, S_IFDIR, S_IFCHR, S_IFLNK = 0o170000, 0o040000, 0o020000, 0o120000

# Directories of the host the bot may read (read-only, nosuid); everything else is absent.
HOST_DIRECTORIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Read-only extras for bots that were granted the network (name resolution, CA certificates).
NETWORK_FILES = ("/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/ssl",
                 "/etc/ca-certificates")
DEVICES = (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9))


class SandboxError(Exception):
    """The sandbox could not be set up; the bot never ran."""


class _Libc:
    """``mount(2)`` and ``prctl(2)`` from the C library, raising OSError with errno."""

    def __init__(self) -> None:
        import _ctypes

        class CInt(_ctypes._SimpleCData):
            _type_ = "i"

        class CULong(_ctypes._SimpleCData):
            _type_ = "L"

        class CString(_ctypes._SimpleCData):
            _type_ = "z"

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = CInt

        class Library:  # what CFuncPtr looks symbols up in: the process's own C library
            _handle = _ctypes.dlopen(None, 0)

        self._mount = Function(("mount", Library))
        self._mount.argtypes = (CString, CString, CString, CULong, CString)
        self._prctl = Function(("prctl", Library))
        self._prctl.argtypes = (CInt, CULong, CULong, CULong, CULong)
        self._errno = _ctypes.get_errno

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            code = self._errno()
            raise OSError(code, f"{what}: {posix.strerror(code)}")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        def encode(text: str | None) -> bytes | None:
            return None if text is None else text.encode()

        self._check(self._mount(encode(source), target.encode(), encode(fstype), flags,
                                encode(data)), f"mount {target}")

    def bind_read_only(self, source: str, target: str) -> None:
        """Bind ``source`` at ``target``, then make that mount read-only, nosuid and nodev."""
        self.mount(source, target, None, MS_BIND)
        self.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)

    def no_new_privs(self) -> None:
        """Forbid gaining privileges through exec (setuid binaries, file capabilities)."""
        self._check(self._prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := posix.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _kind(path: str) -> int | None:
    """The file type bits of ``path`` (not following a symlink), or None when it is absent."""
    try:
        return posix.lstat(path).st_mode & S_IFMT
    except OSError:
        return None


def _make_directories(path: str) -> None:
    if _kind(path) is None:
        _make_directories(path.rpartition("/")[0] or "/")
        posix.mkdir(path, 0o755)


def _mirror(libc: _Libc, root: str, path: str) -> None:
    """Make host ``path`` (a directory, file or symlink) visible read-only at the same place."""
    kind = _kind(path)
    if kind is None:
        return
    target = root + path
    _make_directories(target.rpartition("/")[0])
    if kind == S_IFLNK:
        posix.symlink(posix.readlink(path), target)
        return
    if kind == S_IFDIR:
        posix.mkdir(target, 0o755)
    else:
        posix.close(posix.open(target, posix.O_CREAT | posix.O_WRONLY, 0o644))
    libc.bind_read_only(path, target)


def _build_root(libc: _Libc, spec: dict) -> None:
    """Build the bot's private root under ``./root``, chroot into it and enter /tmp there.

    The root is a small read-only tmpfs holding only: the host's /usr (and its /bin, /lib
    links), the interpreter's installation, a few generated /etc files, the basic devices, a
    fresh /proc of the run's own pid namespace, and /tmp, the size-capped writable working
    directory. Host files, sockets (including database unix sockets), other runs' directories
    and /root are simply not there.
    """
    root = posix.getcwd() + "/root"
    uid, gid = spec["uid"], spec["gid"]
    libc.mount("tmpfs", root, "tmpfs", MS_NOSUID, "size=1m,nr_inodes=512,mode=0755")
    for path in HOST_DIRECTORIES:
        _mirror(libc, root, path)
    if not spec["prefix"].startswith("/usr/"):  # the interpreter's own installation
        _mirror(libc, root, spec["prefix"])

    posix.mkdir(root + "/etc", 0o755)
    etc_files = {
        "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                  f"bot:x:{uid}:{gid}:bot:/tmp:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nbot:x:{gid}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    }
    for name, text in etc_files.items():
        with open(f"{root}/etc/{name}", "w") as handle:
            handle.write(text)
    _mirror(libc, root, "/etc/localtime")
    if spec["network"]:
        for path in NETWORK_FILES:
            _mirror(libc, root, path)

    posix.mkdir(root + "/dev", 0o755)
    for name, minor in DEVICES:
        posix.mknod(f"{root}/dev/{name}", S_IFCHR | 0o666, posix.makedev(1, minor))
        posix.chmod(f"{root}/dev/{name}", 0o666)  # mknod's mode is filtered by the umask
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("shm", "/tmp")):
        posix.symlink(target, f"{root}/dev/{name}")

    posix.mkdir(root + "/proc", 0o555)
    libc.mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    posix.mkdir(root + "/tmp", 0o700)
    libc.mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={spec['workdir_mb']}m,nr_inodes=16384,mode=0700,uid={uid},gid={gid}")
    libc.mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    posix.chroot(root)
    posix.chdir("/tmp")


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
    libc.no_new_privs()


def _prepare(spec: dict) -> None:
    """Everything between the interpreter start and the bot's first line."""
    posix.dup2(1, 2)  # the bot's stderr joins its stdout in the logs
    null = posix.open("/dev/null", posix.O_RDONLY)
    posix.dup2(null, 0)
    posix.close(null)
    mode = spec["mode"]
    libc = _Libc() if mode in ("namespace", "user") else None
    if mode == "namespace":
        _build_root(libc, spec)
        # The bot's subprocesses need a path that exists inside the private root too.
        sys.executable = spec["executable"]
    with open("bot.py", "w", encoding="utf-8") as handle:
        handle.write(spec["code"])
    _apply_limits(spec["limits"])
    if libc is not None:
        _drop_privileges(libc, spec["uid"], spec["gid"])


def main(argv: list[str]) -> None:
    """Set the sandbox up from the payload on stdin, then run the bot (never returns)."""
    result_fd = int(argv[1])
    # The runner is imported first, while its file is still reachable (before any chroot).
    # The sandbox may start this file from its cached bytecode in __pycache__.
    here = __file__.rpartition("/")[0]
    if here.endswith("/__pycache__"):
        here = here.rpartition("/")[0]
    sys.path.insert(0, here)
    import runner

    del sys.path[0]
    try:
        spec = marshal.loads(_read_all(0))
        _prepare(spec)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        runner.write_record(result_fd, runner.error_record("SandboxError", message))
        posix._exit(SANDBOX_FAILED)
    posix.set_inheritable(result_fd, False)  # the bot's own subprocesses do not get it
    sys.argv = ["bot.py"]
    context = runner.BotContext(spec["execution_id"], spec["bot_id"], spec["workspace_id"],
                                spec["secrets"])
    event = spec["event"]
    max_result_bytes = spec["max_result_bytes"]
    del spec  # the payload holds the secrets: keep only the context's copy
    runner.run(event, context, result_fd, max_result_bytes)


if __name__ == "__main__":
    main(sys.argv)
