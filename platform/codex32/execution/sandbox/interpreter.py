"""The bot interpreter: what a launch needs to know about it, learnt once per process.

Also stages the launcher, the runner and the channel client, compiled by that interpreter,
in a root-only folder outside the project (``/run/codex32/code``): the namespace level binds
that folder at the neutral path ``/run/codex32`` in the sandbox, so no host project path
shows in a bot's argv or mount table. Python runs a ``.pyc`` given by path, and imports
``runner.pyc`` (and ``channel_client.pyc``) beside it, which spares compiling them on every
run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from codex32.execution.sandbox.identities import STATE_DIR

EXECUTION_DIR = Path(__file__).resolve().parents[1]
LAUNCHER = str(EXECUTION_DIR / "launcher.py")
RUNNER = str(EXECUTION_DIR / "runner.py")
CHANNEL_CLIENT = str(EXECUTION_DIR / "channel_client.py")
STAGED = (LAUNCHER, RUNNER, CHANNEL_CLIENT)  # what a run imports before its uid drop
CODE_DIR = f"{STATE_DIR}/code"
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8"}

INSPECT_CODE = """\
import glob, os, site, sys
paths = [os.path.realpath(p) for p in site.getsitepackages()]
paths += glob.glob(sys.base_prefix + "/lib/python3*/*-packages")
for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages"):
    paths += glob.glob(pattern)
print(os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix),
      sys.implementation.cache_tag, sep="\\n")
print("\\n".join(sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})))
"""


@dataclass(frozen=True)
class Interpreter:
    """A bot interpreter's facts; ``hidden`` are its package folders a bot must not import from."""

    executable: str  # resolved path, valid inside the sandbox too
    prefix: str  # its installation (resolved sys.base_prefix), bound read-only in the sandbox
    cache_tag: str
    hidden: tuple[str, ...]


_lock = threading.Lock()
_known: dict[str, Interpreter] = {}
_staged: dict[str, str] = {}


def interpreter(python: str) -> Interpreter:
    """Facts about ``python`` (cached per path)."""
    with _lock:
        if python not in _known:
            done = subprocess.run([python, "-I", "-c", INSPECT_CODE], capture_output=True,
                                  timeout=30, env=ENVIRONMENT, check=True)
            lines = done.stdout.decode().splitlines()
            _known[python] = Interpreter(lines[0], lines[1], lines[2], tuple(lines[3:]))
        return _known[python]


def staged_code(python: str) -> str:
    """A root-only folder holding the :data:`STAGED` modules compiled by ``python``."""
    facts = interpreter(python)
    with _lock:
        folder = _staged.get(python)
        if folder is not None and os.path.exists(f"{folder}/runner.pyc"):
            return folder
        digest = hashlib.sha256(b"".join(Path(path).read_bytes() for path in STAGED)
                                + facts.executable.encode()).hexdigest()[:16]
        folder = f"{CODE_DIR}/{facts.cache_tag}-{digest}"
        if not os.path.exists(f"{folder}/runner.pyc"):
            os.makedirs(CODE_DIR, mode=0o700, exist_ok=True)
            building = f"{folder}.{os.getpid()}.{threading.get_ident()}"
            os.makedirs(building, mode=0o755)
            compile_code = ("import py_compile, sys\nfor s, c in zip(sys.argv[1::2], "
                            "sys.argv[2::2]):\n    py_compile.compile(s, c, doraise=True)\n")
            pairs = [item for path in STAGED
                     for item in (path, f"{building}/{Path(path).stem}.pyc")]
            subprocess.run([python, "-I", "-S", "-c", compile_code, *pairs],
                           env=ENVIRONMENT, check=True, timeout=60)
            try:
                os.rename(building, folder)
            except OSError:  # another thread or worker staged it first
                shutil.rmtree(building, ignore_errors=True)
        _staged[python] = folder
        return folder


def _safe_from_others(path: Path) -> bool:
    """Owned by root and, unless a symlink or a sticky directory, not writable by others.

    A root-owned sticky directory (``/tmp``) is safe: others may add entries but cannot rename
    or replace root's, and every entry on the path is checked in turn.
    """
    info = os.lstat(path)
    if info.st_uid != 0:
        return False
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
        return True
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def interpreter_problem(path: str) -> str | None:
    """Why ``path`` must not be launched as the bots' interpreter, or None when it may.

    Under root the interpreter and the staged modules run with root's power until the uid
    drop, so each of them, and every directory above them, must be root's alone.
    """
    real = os.path.realpath(path)
    if not os.path.isfile(real) or not os.access(real, os.X_OK):
        return f"{path} is not an executable file"
    if os.geteuid() != 0:
        return None
    for candidate in (path, real, *STAGED):
        checked = Path(os.path.abspath(candidate))
        for item in (checked, *checked.parents):
            if not _safe_from_others(item):
                return f"{item} is not owned by root or is writable by others"
    return None
