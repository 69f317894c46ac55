"""Read-only package environments for sandboxed runs: a bot's requirements, the test tools.

A bot's pinned requirements (``name==version``, already checked against the allowlist by the
caller) are installed once into a folder keyed by the lock's hash, under
``<data dir>/environments``; every later build or run with the same lock reuses it. The
sandbox binds the folder read-only and puts it on ``sys.path`` (:mod:`.sandbox.bwrap`).

How pip is run, and why:

- ``--only-binary=:all:``: a source distribution would run its ``setup.py`` on the host as
  the platform's user at install time; only wheels, which install without running code.
- ``--no-deps``: the lock must name every distribution it needs, so every installed
  distribution was checked against the allowlist (a dependency cannot bring in a package no
  one allowed) and the folder is exactly the lock. :func:`missing_dependencies` then says what
  an incomplete lock lacks, as a finding rather than an import error at run time.
- ``--index-url``/``--find-links`` come from the platform's settings only
  (``CODEX32_BUILDER_INDEX_URL``, ``CODEX32_BUILDER_FIND_LINKS``), never from a tenant.

The cache is bounded (``CODEX32_BUILDER_MAX_ENVIRONMENTS``, least recently used go first, none
used within the last hour, as a run may still import from it) and
safe under concurrent builds: one lock per hash (a thread lock and ``flock`` across
processes), a folder built under a temporary name and renamed into place when complete.

The test tools (pytest, coverage and what they need) get a folder of their own, copied from
the platform's installation: test runs bind it too, executions never do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

TOOLS = ("pytest", "coverage")  # what a test run imports besides the bot's requirements
USED = ".used"  # touched on each use: the cache evicts the least recently used
# What pip may see of the platform's environment: its own settings, proxies and CA files, not
# the database URL or the keys.
PIP_ENVIRONMENT = ("PATH", "HOME", "LANG", "TMPDIR", "XDG_CONFIG_HOME", "SSL_CERT_FILE",
                   "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                   "http_proxy", "https_proxy", "no_proxy")
MAX_ERROR_CHARS = 2000


class InstallFailed(Exception):
    """pip could not install the lock (unknown version, no wheel, index unreachable...)."""


@dataclass(frozen=True)
class Installer:
    """Where environments live and how pip finds packages: platform settings only."""

    root: Path  # <data dir>/environments
    index_url: str | None = None  # None: pip's own configuration; "none": --no-index
    find_links: tuple[str, ...] = ()
    max_environments: int = 50
    timeout_seconds: float = 300.0
    # An environment used this recently is never evicted: a run started with it may still be
    # importing from it (runs last at most MAX_TIMEOUT_SECONDS, 300 s by default).
    eviction_grace_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Any) -> Installer:
        """The installer a :class:`codex32.config.Settings` describes."""
        return cls(root=Path(settings.data_dir) / "environments",
                   index_url=settings.builder_index_url,
                   find_links=tuple(settings.builder_find_links),
                   max_environments=settings.builder_max_environments,
                   timeout_seconds=settings.builder_install_timeout_seconds)


@dataclass(frozen=True)
class Environment:
    """An installed environment: ``site`` goes on the run's ``sys.path``."""

    key: str
    site: Path
    reused: bool  # found in the cache (nothing was installed)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def lock_key(pins: Iterable[str]) -> str:
    """The hash an environment is cached under: the sorted pins and the interpreter's tag."""
    text = "\n".join(sorted({pin.strip().lower() for pin in pins}))
    return hashlib.sha256(f"{sys.implementation.cache_tag}\n{text}".encode()).hexdigest()[:32]


@contextlib.contextmanager
def _locked(root: Path, key: str) -> Iterator[None]:
    """Hold ``key``'s lock: threads of this process, then other processes (flock)."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{key}.lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _readable(folder: Path) -> None:
    """Everything under ``folder`` readable (and folders traversable) by a run's own uid."""
    for current, _, files in os.walk(folder):
        os.chmod(current, 0o755)
        for name in files:
            path = os.path.join(current, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)


def _stamp(folder: Path) -> None:
    (folder / USED).touch()


def ensure(installer: Installer, pins: list[str]) -> Environment:
    """The environment of ``pins`` (``name==version`` each), installed now unless cached.

    Raises :class:`InstallFailed` with pip's own words when it cannot be installed.
    """
    key = lock_key(pins)
    folder = installer.root / key
    with _locked(installer.root, key):
        if (folder / USED).exists():
            _stamp(folder)
            return Environment(key, folder / "site", reused=True)
        building = installer.root / f".building-{key}-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _pip_install(installer, building / "site", pins)
            _readable(building)
            _stamp(building)
            os.rename(building, folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    _evict(installer, keep=key)
    return Environment(key, folder / "site", reused=False)


def _pip_install(installer: Installer, target: Path, pins: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--target", str(target), "--no-deps",
               "--only-binary=:all:", "--no-input", "--disable-pip-version-check",
               "--no-warn-script-location", "--quiet"]
    if installer.index_url and installer.index_url.lower() == "none":
        command.append("--no-index")
    elif installer.index_url:
        command += ["--index-url", installer.index_url]
    for link in installer.find_links:
        command += ["--find-links", link]
    # Each pin is a canonical "name==version" the caller built: never an option.
    command += sorted(pins)
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=installer.timeout_seconds, check=False,
                              env=_pip_environment())
    except subprocess.TimeoutExpired as exc:
        raise InstallFailed(f"pip took longer than {installer.timeout_seconds:g} s") from exc
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines()
                 if line.strip() and not line.startswith("WARNING: Location")]
        raise InstallFailed("\n".join(lines)[-MAX_ERROR_CHARS:] or "pip failed")


def _pip_environment() -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items()
            if key in PIP_ENVIRONMENT or key.startswith(("PIP_", "LC_"))}
    return {**kept, "PIP_REQUIRE_VIRTUALENV": "0"}


def _evict(installer: Installer, keep: str) -> None:
    """Remove the least recently used environments beyond the maximum: never one used within
    the grace period, nor one a build holds (its lock is tried, not waited for)."""
    found = []
    for entry in installer.root.iterdir():
        if entry.name.startswith((".", "tools-")) or not (entry / USED).exists():
            continue
        found.append((entry.joinpath(USED).stat().st_mtime, entry))
    found.sort(reverse=True)
    recent = time.time() - installer.eviction_grace_seconds
    for used, entry in found[installer.max_environments:]:
        if entry.name == keep or used > recent:
            continue
        with open(installer.root / f".{entry.name}.lock", "a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # being built or stamped right now: not the least recently used
            trash = installer.root / f".evicted-{entry.name}-{time.monotonic_ns()}"
            os.rename(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)


def _installed(site: Path) -> dict[str, metadata.Distribution]:
    return {canonicalize_name(dist.metadata["Name"]): dist
            for dist in metadata.distributions(path=[str(site)])}


def _marker_environment() -> dict[str, str]:
    """This interpreter's marker values, with no extra asked for."""
    return {**{key: str(value) for key, value in default_environment().items()}, "extra": ""}


def missing_dependencies(site: Path) -> list[tuple[str, str]]:
    """(distribution, requirement) pairs an environment installed with ``--no-deps`` lacks."""
    installed = _installed(site)
    environment = _marker_environment()
    missing = []
    for name, dist in sorted(installed.items()):
        for line in dist.requires or ():
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is not None and not requirement.marker.evaluate(
                    environment):
                continue
            if canonicalize_name(requirement.name) not in installed:
                missing.append((name, str(requirement)))
    return missing


def _closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """These installed distributions and every one they need on this interpreter."""
    environment = _marker_environment()
    todo, seen, found = list(names), set(), []
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this installation does without
        found.append(dist)
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(requirement.name)
    return found


def _link_or_copy(source: Path, destination: Path) -> None:
    """A hard link (a thousand files in milliseconds), else a copy keeping the mtime: either
    way the bytecode pip compiled stays valid, and the folder is mounted read-only, where
    nothing could compile it again."""
    try:
        os.link(source, destination)
    except OSError:  # another filesystem
        shutil.copy2(source, destination)


def tools(root: Path) -> Path:
    """A folder holding only pytest, coverage and their dependencies (linked or copied from
    the platform's own installation, once per set of versions), for test runs' ``sys.path``."""
    dists = _closure(TOOLS)
    stamp = "\n".join(sorted(f"{d.metadata['Name']}=={d.version}" for d in dists))
    key = "tools-" + lock_key(stamp.splitlines())
    folder = root / key
    with _locked(root, key):
        if (folder / USED).exists():
            return folder / "site"
        building = root / f".building-{key}-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(building, ignore_errors=True)
        try:
            for dist in dists:
                for file in dist.files or ():
                    if file.parts[0] == "..":
                        continue  # scripts in bin/
                    source = Path(str(dist.locate_file(file)))
                    if source.is_file():
                        destination = building / "site" / file
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        _link_or_copy(source, destination)
            for current, _, _ in os.walk(building):
                os.chmod(current, 0o755)  # the files keep the installation's own modes
            _stamp(building)
            os.rename(building, folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return folder / "site"

