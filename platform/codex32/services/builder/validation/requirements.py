"""The requirements step: requirements.txt pins only allowed packages, and they install.

``requirements.txt`` holds ``name==version`` lines (comments and blank lines allowed; no
options, URLs, extras, markers or ranges), parsed with :mod:`packaging`. A pin is allowed when
the platform's allowlist (``CODEX32_BUILDER_ALLOWED_REQUIREMENTS``) allows it and, when the
workspace has one (``settings.builder.allowed_requirements``), the workspace's does too: a
tenant can only narrow the platform's list. An allowlist entry is a name, optionally with a
version specifier (``requests>=2.31,<3``).

Allowed pins are installed by :mod:`codex32.execution.environments` into the environment of
their lock's hash (reused when cached), which the tests step and the bot's executions bind
read-only. Every problem (a bad line, a package not allowed, a failed install, a dependency
the lock lacks) is a finding; nothing here raises for what the files say.
"""

from __future__ import annotations

from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy import select

from codex32 import runtime
from codex32.db import tenancy
from codex32.db.models import Workspace
from codex32.execution import environments
from codex32.services.builder.report import Finding
from codex32.services.builder.validation.work import Checked, Work

STEP = "requirements"
FILE = "requirements.txt"
MAX_PINS = 50


def pins_of(text: str) -> tuple[list[str], list[Finding]]:
    """The canonical ``name==version`` pins of a requirements.txt, and its bad lines."""
    pins: dict[str, str] = {}
    findings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue

        def bad(message: str, line_number: int = number) -> None:
            findings.append(Finding(STEP, message, path=FILE, line=line_number))

        if line.startswith("-"):
            bad(f"{line.split()[0][:40]}: options are not allowed (the platform sets the "
                "package index)")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            bad(f"not a requirement: {str(exc)[:200]}")
            continue
        specifiers = list(requirement.specifier)
        if requirement.url or requirement.extras or requirement.marker:
            bad(f"{requirement.name}: only name==version (no URL, extras or markers)")
            continue
        if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            bad(f"{requirement.name}: pin one exact version (name==version)")
            continue
        try:
            version = Version(specifiers[0].version)
        except InvalidVersion:
            bad(f"{requirement.name}: {specifiers[0].version!r} is not a version")
            continue
        name = canonicalize_name(requirement.name)
        if name in pins:
            bad(f"{name} is pinned twice")
            continue
        pins[name] = f"{name}=={version}"
    if len(pins) > MAX_PINS:
        findings.append(Finding(STEP, f"{len(pins)} requirements, at most {MAX_PINS}",
                                path=FILE))
    return list(pins.values()), findings


def allows(allowlist: list[str] | tuple[str, ...], pin: str) -> bool:
    """Whether an entry of ``allowlist`` (a name, optionally with a specifier) allows ``pin``."""
    wanted = Requirement(pin)
    version = next(iter(wanted.specifier)).version
    for entry in allowlist:
        try:
            allowed = Requirement(entry)
        except InvalidRequirement:
            continue
        if canonicalize_name(allowed.name) == canonicalize_name(wanted.name) and (
                allowed.specifier.contains(version, prereleases=True)):
            return True
    return False


def own_allowlist(workspace_settings: dict[str, Any]) -> list[str] | None:
    """A workspace's own allowlist from its settings (None: it narrows nothing)."""
    builder = workspace_settings.get("builder")
    found = builder.get("allowed_requirements") if isinstance(builder, dict) else None
    return [entry for entry in found if isinstance(entry, str)] if isinstance(found, list) \
        else None


def workspace_allowlist(workspace_id: str) -> list[str] | None:
    """The workspace's own allowlist, read in a session of its own (closed, with its read-only
    transaction, when the block ends)."""
    with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
        settings: dict[str, Any] = session.execute(select(Workspace.settings)).scalar() or {}
    return own_allowlist(settings)


def refusals(pins: list[str], platform: tuple[str, ...] | list[str],
             own: list[str] | None) -> list[Finding]:
    """A finding per pin the platform's allowlist, or the workspace's, does not allow."""
    findings = []
    for pin in pins:
        if not allows(platform, pin):
            findings.append(Finding(STEP, f"{pin} is not on the platform's allowlist",
                                    path=FILE, code="not-allowed"))
        elif own is not None and not allows(own, pin):
            findings.append(Finding(STEP, f"{pin} is not on this workspace's allowlist",
                                    path=FILE, code="not-allowed"))
    return findings


def check(work: Work) -> Checked:
    """Parse, check against the allowlists, install (or reuse) the environment."""
    text = work.files.get(FILE)
    if text is None:
        return Checked(output="no requirements.txt: standard library only")
    pins, findings = pins_of(text)
    if findings:
        return Checked(findings)
    if not pins:
        return Checked(output="no requirements: standard library only")
    findings = refusals(pins, work.settings.builder_allowed_requirements,
                        workspace_allowlist(work.workspace_id))
    if findings:
        return Checked(findings)
    installer = environments.Installer.from_settings(work.settings)
    try:
        environment = environments.ensure(installer, pins)
    except environments.InstallFailed as exc:
        return Checked([Finding(STEP, f"could not install {', '.join(pins)}: {exc}"[:2000],
                                path=FILE, code="install-failed")])
    for name, needed in environments.missing_dependencies(environment.site):
        findings.append(Finding(STEP, f"{name} needs {needed}, which requirements.txt does "
                                      "not pin (pin every dependency)", path=FILE,
                                code="missing-dependency"))
    if findings:
        return Checked(findings)
    work.environment = environment
    verb = "reused" if environment.reused else "installed"
    return Checked(output=f"{verb} environment {environment.key}: {', '.join(sorted(pins))}")
