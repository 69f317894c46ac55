"""One host identity (uid = gid) per concurrent run, from the platform's range.

Each uid in use is held by an exclusive ``flock`` on its own file in a root-only directory, so
two worker processes on one host never hand out the same uid, and a crashed worker's uids
are free again the moment its process is gone (the kernel drops its locks). With its own uid a
run has its own RLIMIT_NPROC budget and its own (refused, see seccomp) keyrings.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random

STATE_DIR = "/run/codex32"
LOCK_DIR = f"{STATE_DIR}/identities"


class NoFreeIdentity(Exception):
    """Every uid of the range is in use by a run on this host."""


def _lock_dir() -> str:
    for path in (STATE_DIR, LOCK_DIR):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)
        if info.st_uid != 0 or info.st_mode & 0o077:
            raise PermissionError(f"{path} must be root's alone (mode 0700)")
    return LOCK_DIR


class Identity:
    """A uid (also the gid) reserved for one run until :meth:`release`."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self.gid = uid
        self._fd = fd

    def release(self) -> None:
        """Give the uid back (after every process of the run is gone)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def allocate(uid_range: tuple[int, int]) -> Identity:
    """Reserve a uid of ``uid_range`` that no other run on this host holds."""
    folder = _lock_dir()
    low, high = uid_range
    count = high - low + 1
    start = random.randrange(count)  # spread runs over the range: fewer collisions to skip
    for step in range(count):
        uid = low + (start + step) % count
        fd = os.open(f"{folder}/{uid}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Identity(uid, fd)
    raise NoFreeIdentity(f"all {count} sandbox uids ({low}-{high}) are in use on this host")
